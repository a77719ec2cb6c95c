"""The one model resolver: a setting (`tiny`, `tiny-dense`, a Hub id, a folder, a config file) becomes one
`ModelChoice` carrying its source, its config dict (`choice.config`) and its labels.

Set it with the environment variable ``QWEN3VL_MODEL`` or in a notebook's ``parameters`` cell
(``MODEL = "Qwen/Qwen3-VL-30B-A3B-Instruct"``; papermill's ``-p MODEL …`` works too). The default,
``tiny``, is the locally built random-weight checkpoint of the exact 30B-A3B architecture.

A config file (or the name of a stored one, e.g. `Qwen3-VL-30B-A3B-Instruct`) is a setting for meta-only
uses (sizes, memory): pass ``weights=False``, which also resolves a known Hub id to its stored config without
asking the cache. Every bad setting raises one error type, `ModelSelectionError`, with one line.

Example:
    >>> choice = select_model("tiny")
    >>> choice.kind, choice.random_weights, choice.config["model_type"]
    ('tiny', True, 'qwen3_vl_moe')
    >>> select_model("data/configs/Qwen3-VL-8B-Instruct.json", weights=False).config["model_type"]
    'qwen3_vl'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from helpers.core.configs import (
    REAL_CONFIGS,
    TINY_ALIASES,
    load_config_dict,
    real_config_path,
    tiny_config_dict,
)
from helpers.core.errors import ModelSelectionError
from helpers.core.paths import CONFIGS_DIR

ENV_VAR = "QWEN3VL_MODEL"
DEFAULT_MODEL = "tiny"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelChoice:
    """What the setting resolved to.

    `source` is what `from_pretrained` gets (for kind "config": the config file, which has no weights);
    `config_path` a config.json for meta-device sizing (the stored release config for a known Hub id);
    `config` the config dict itself; `random_weights` is True for the tiny fixtures.
    """

    spec: str
    kind: str  # "tiny" | "hub" | "local" | "config"
    source: str
    config_path: Path | None
    random_weights: bool

    @cached_property
    def config(self) -> dict[str, Any]:
        """The config dict (read once by `load_config_dict`; the tiny ones are derived, nothing built)."""
        if self.kind == "tiny":
            return tiny_config_dict(TINY_ALIASES[self.spec])
        if self.config_path is None:
            raise ModelSelectionError(f"{self.spec!r}: no config.json is known for it; download it first")
        return load_config_dict(self.config_path)

    @property
    def name(self) -> str:
        """A short name for tables and legends (the config file's stem for kind "config")."""
        return Path(self.spec).stem if self.kind == "config" else self.spec

    @property
    def label(self) -> str:
        """A short label for plots and banners that says when the weights are random."""
        if self.random_weights:
            return f"{self.spec} (tiny, RANDOM weights: outputs are noise, not answers)"
        return self.spec

    @property
    def is_moe(self) -> bool:
        if self.kind != "tiny" and self.config_path is None:
            return False
        return self.config.get("model_type") == "qwen3_vl_moe"


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


def select_model(
    value: Any = None, build: bool = True, weights: bool = True, what: str = ENV_VAR
) -> ModelChoice:
    """Resolve the model setting, failing early with one line that names the setting and the default.

    `value` may also be a `ModelChoice` (returned as is) or a Path. ``weights=False`` is for meta-only
    uses: nothing is built, a config file is accepted, and a known Hub id needs no cache. `what` names the
    setting in error lines (``--model`` for a CLI).

    Example:
        >>> select_model("no/such-model-anywhere")  # doctest: +SKIP
        ModelSelectionError: QWEN3VL_MODEL='no/such-model-anywhere' is not in the local Hugging Face cache …
    """
    if isinstance(value, ModelChoice):
        return value
    spec = model_setting(None if value is None else str(value))
    default = f"use {what}={DEFAULT_MODEL} (the offline default)" if what == ENV_VAR else "try tiny"
    if spec in TINY_ALIASES:
        from helpers.core.fixtures import build_fixture, fixture_dir

        name = TINY_ALIASES[spec]
        path = build_fixture(name) if build and weights else fixture_dir(name)
        return ModelChoice(spec, "tiny", str(path), path / "config.json", True)

    local = Path(spec).expanduser()
    stored = CONFIGS_DIR / f"{spec}.json"
    if not weights and not local.exists() and "/" not in spec and stored.is_file():
        local = stored  # the name of a stored release config
    if local.is_file():
        if weights:
            raise ModelSelectionError(
                f"{what}={spec!r} is a config file: it has no weights; point it at a checkpoint folder, "
                f"a Hub id, or {default}"
            )
        return _checked(ModelChoice(spec, "config", str(local.resolve()), local.resolve(), False), what)
    if local.exists() or spec.startswith((".", "/", "~")):
        if not (local / "config.json").is_file():
            raise ModelSelectionError(
                f"{what}={spec!r}: no config.json in that folder; point it at a checkpoint folder, "
                f"a Hub id, or {default}"
            )
        choice = ModelChoice(spec, "local", str(local.resolve()), local.resolve() / "config.json", False)
        return choice if weights else _checked(choice, what)

    if not _HUB_ID.match(spec):
        raise ModelSelectionError(
            f"{what}={spec!r} is neither 'tiny', an existing folder, nor a Hub id like "
            f"'Qwen/Qwen3-VL-30B-A3B-Instruct'; {default}"
        )
    if not weights and spec in REAL_CONFIGS:
        return ModelChoice(spec, "hub", spec, real_config_path(spec), False)
    cached = _hub_cached_config(spec)
    if cached is None and not weights:
        raise ModelSelectionError(
            f"{what}={spec!r}: no stored config for it (data/configs) and none in the local Hugging Face "
            f"cache; give its config.json, or {default}"
        )
    if cached is None and _offline():
        raise ModelSelectionError(
            f"{what}={spec!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            f"download it first (`hf download {spec}`) or {default}"
        )
    if cached is None:
        _check_hub_reachable(spec)
    config = real_config_path(spec) if spec in REAL_CONFIGS else cached
    return ModelChoice(spec, "hub", spec, config, False)


def _checked(choice: ModelChoice, what: str) -> ModelChoice:
    """Read the config now, so a bad file fails here with one line that names the setting."""
    try:
        _ = choice.config
    except ModelSelectionError as err:
        raise ModelSelectionError(f"{what}={choice.spec!r}: {err}") from None
    return choice


def model_config(model: Any) -> dict[str, Any]:
    """The config dict of anything that names a model: a config dict (returned as is), a `ModelChoice`, or a
    setting (resolved meta-only: a config file, a folder, a known Hub id, `tiny`).

    Example:
        >>> model_config("tiny-dense")["model_type"]
        'qwen3_vl'
    """
    if isinstance(model, dict):
        return model
    return select_model(model, weights=False).config


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
