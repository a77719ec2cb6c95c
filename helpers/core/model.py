"""The one setting that picks the model every notebook runs: `tiny`, a Hub id, or a local folder.

Set it with the environment variable ``QWEN3VL_MODEL`` or in a notebook's ``parameters`` cell
(``MODEL = "Qwen/Qwen3-VL-30B-A3B-Instruct"``; papermill's ``-p MODEL …`` works too). The default,
``tiny``, is the locally built random-weight checkpoint of the exact 30B-A3B architecture.

Example:
    >>> choice = select_model("tiny")
    >>> choice.kind, choice.random_weights
    ('tiny', True)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from helpers.core.configs import REAL_CONFIGS, TINY_ALIASES, real_config_path
from helpers.core.errors import ModelSelectionError

ENV_VAR = "QWEN3VL_MODEL"
DEFAULT_MODEL = "tiny"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelChoice:
    """What the setting resolved to.

    `source` is what `from_pretrained` gets; `config_path` a config.json for meta-device sizing
    (the stored release config for a known Hub id); `random_weights` is True for the tiny fixtures.
    """

    spec: str
    kind: str  # "tiny" | "hub" | "local"
    source: str
    config_path: Path | None
    random_weights: bool

    @property
    def label(self) -> str:
        """A short label for plots and banners that says when the weights are random."""
        if self.random_weights:
            return f"{self.spec} (tiny, RANDOM weights: outputs are noise, not answers)"
        return self.spec

    @property
    def is_moe(self) -> bool:
        if self.config_path is None:
            return False
        return json.loads(Path(self.config_path).read_text()).get("model_type") == "qwen3_vl_moe"


def model_setting(value: str | None = None) -> str:
    """The effective setting: `value` if given, else $QWEN3VL_MODEL, else `tiny`.

    Example:
        >>> model_setting("Qwen/Qwen3-VL-8B-Instruct")
        'Qwen/Qwen3-VL-8B-Instruct'
    """
    return (value or os.environ.get(ENV_VAR) or DEFAULT_MODEL).strip()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or os.environ.get(
        "TRANSFORMERS_OFFLINE", ""
    ).lower() in ("1", "true", "yes")


def _hub_cached_config(hub_id: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hub_id, "config.json")
    return Path(found) if isinstance(found, str) else None


def select_model(value: str | None = None, build: bool = True) -> ModelChoice:
    """Resolve the model setting, failing early with one line that names the setting and the default.

    Example:
        >>> select_model("no/such-model-anywhere")  # doctest: +SKIP
        ModelSelectionError: QWEN3VL_MODEL='no/such-model-anywhere' is not in the local Hugging Face cache …
    """
    spec = model_setting(value)
    if spec in TINY_ALIASES:
        from helpers.core.fixtures import build_fixture, fixture_dir

        name = TINY_ALIASES[spec]
        path = build_fixture(name) if build else fixture_dir(name)
        return ModelChoice(spec, "tiny", str(path), path / "config.json", True)

    local = Path(spec).expanduser()
    if local.exists() or spec.startswith((".", "/", "~")):
        if not (local / "config.json").is_file():
            raise ModelSelectionError(
                f"{ENV_VAR}={spec!r}: no config.json in that folder; point it at a checkpoint folder, "
                f"a Hub id, or use {ENV_VAR}={DEFAULT_MODEL} (the offline default)"
            )
        return ModelChoice(spec, "local", str(local.resolve()), local.resolve() / "config.json", False)

    if not _HUB_ID.match(spec):
        raise ModelSelectionError(
            f"{ENV_VAR}={spec!r} is neither 'tiny', an existing folder, nor a Hub id like "
            f"'Qwen/Qwen3-VL-30B-A3B-Instruct'; use {ENV_VAR}={DEFAULT_MODEL} (the offline default)"
        )
    cached = _hub_cached_config(spec)
    if cached is None and _offline():
        raise ModelSelectionError(
            f"{ENV_VAR}={spec!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            f"download it first (`hf download {spec}`) or use {ENV_VAR}={DEFAULT_MODEL} (the offline default)"
        )
    if cached is None:
        _check_hub_reachable(spec)
    config = real_config_path(spec) if spec in REAL_CONFIGS else cached
    return ModelChoice(spec, "hub", spec, config, False)


def _check_hub_reachable(spec: str) -> None:
    """Ask the Hub once, briefly, so a typo or no network gives one line instead of a client traceback."""
    from huggingface_hub import model_info

    try:
        model_info(spec, timeout=10)
    except Exception as err:  # network errors, 404, 401: all say the same thing to the user
        reason = type(err).__name__
        raise ModelSelectionError(
            f"{ENV_VAR}={spec!r} could not be reached on the Hub ({reason}); check the id and the network, "
            f"or use {ENV_VAR}={DEFAULT_MODEL} (the offline default)"
        ) from None
