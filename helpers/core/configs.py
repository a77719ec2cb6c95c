"""The Qwen3-VL configs the workbook knows: the stored release configs, the tiny fixtures' shrunk
versions, and the image processor's rules, all read from data/configs without building anything.

Example:
    >>> tiny_config_dict("tiny-moe")["model_type"]
    'qwen3_vl_moe'
    >>> default_rules().factor
    32
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from helpers.core.errors import ModelSelectionError, WorkbookError
from helpers.core.paths import CONFIGS_DIR

SUPPORTED_TYPES = ("qwen3_vl", "qwen3_vl_moe")


def load_config_dict(path: str | Path) -> dict[str, Any]:
    """The one reader of config files: a config.json (or a checkpoint folder holding one), checked to be a
    Qwen3-VL config. Which file a setting means is decided by `helpers.core.model.select_model`.

    Example:
        >>> load_config_dict("data/configs/Qwen3-VL-8B-Instruct.json")["model_type"]
        'qwen3_vl'
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ModelSelectionError(
            f"{str(path)!r} is not a config file or a checkpoint folder with config.json"
        )
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        reason = err.msg if isinstance(err, json.JSONDecodeError) else err
        raise ModelSelectionError(f"{path.name} is not valid JSON ({reason})") from None
    if not isinstance(cfg, dict) or cfg.get("model_type") not in SUPPORTED_TYPES:
        got = cfg.get("model_type") if isinstance(cfg, dict) else None
        raise ModelSelectionError(
            f"{path.name}: model_type {got!r} is not a Qwen3-VL type ({', '.join(SUPPORTED_TYPES)})"
        )
    check_config(cfg, str(path))
    return cfg


def check_config(cfg: dict[str, Any], where: str = "config") -> None:
    """Raise a one-line WorkbookError naming the first contradiction or bad value in `cfg` (see config_rules).

    Example:
        >>> check_config({"model_type": "qwen3_vl", "text_config": None})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        helpers.core.errors.WorkbookError: config: text_config is None, not an object: ...
    """
    from helpers.core.config_rules import config_problems

    problems = config_problems(cfg)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise WorkbookError(f"{where}: {problems[0]}{more}")


def build_config(cfg: dict[str, Any]):
    """A Transformers config object from a config dict (deep-copied: config classes edit nested dicts)."""
    import copy

    from transformers import AutoConfig

    d = copy.deepcopy(cfg)
    return AutoConfig.for_model(d.pop("model_type"), **d)


REAL_CONFIGS = {
    "Qwen/Qwen3-VL-2B-Instruct": "Qwen3-VL-2B-Instruct.json",
    "Qwen/Qwen3-VL-4B-Instruct": "Qwen3-VL-4B-Instruct.json",
    "Qwen/Qwen3-VL-8B-Instruct": "Qwen3-VL-8B-Instruct.json",
    "Qwen/Qwen3-VL-32B-Instruct": "Qwen3-VL-32B-Instruct.json",
    "Qwen/Qwen3-VL-30B-A3B-Instruct": "Qwen3-VL-30B-A3B-Instruct.json",
    "Qwen/Qwen3-VL-235B-A22B-Instruct": "Qwen3-VL-235B-A22B-Instruct.json",
}


def real_config_path(hub_id: str) -> Path:
    """Path of the stored config.json of a Qwen3-VL release.

    Example:
        >>> real_config_path("Qwen/Qwen3-VL-30B-A3B-Instruct").name
        'Qwen3-VL-30B-A3B-Instruct.json'
    """
    try:
        return CONFIGS_DIR / REAL_CONFIGS[hub_id]
    except KeyError:
        known = ", ".join(REAL_CONFIGS)
        raise ModelSelectionError(f"no stored config for {hub_id!r}; known: {known}") from None


TINY_ALIASES = {"tiny": "tiny-moe", "tiny-moe": "tiny-moe", "tiny-dense": "tiny-dense"}


# Shrunk text and vision sizes. Experts are deliberately not square (2*I != H and I != H): the
# loader tells the release's transposed expert layout apart by shape, and square shapes fool it.
TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 96,
    "moe_intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "rope_scaling": {"mrope_interleaved": True, "mrope_section": [4, 2, 2], "rope_type": "default"},
}


TINY_VISION = {
    "depth": 2,
    "hidden_size": 32,
    "intermediate_size": 80,
    "num_heads": 2,
    "out_hidden_size": 64,
    "deepstack_visual_indexes": [0, 1],
}


FIXTURES = {
    "tiny-moe": "Qwen3-VL-30B-A3B-Instruct.json",
    "tiny-dense": "Qwen3-VL-2B-Instruct.json",
}


def tiny_config_dict(name: str) -> dict[str, Any]:
    """The config of a tiny fixture: the real release config with only the sizes shrunk.

    Example:
        >>> cfg = tiny_config_dict("tiny-moe")
        >>> cfg["model_type"], cfg["text_config"]["vocab_size"]
        ('qwen3_vl_moe', 151936)
    """
    base = json.loads((CONFIGS_DIR / FIXTURES[name]).read_text())
    cfg = copy.deepcopy(base)
    text = {k: v for k, v in TINY_TEXT.items() if k in base["text_config"] or k == "rope_scaling"}
    if "num_experts" in base["text_config"]:
        text.update(
            {k: TINY_TEXT[k] for k in ("num_experts", "num_experts_per_tok", "moe_intermediate_size")}
        )
    # deep copies: Transformers' config classes edit nested dicts (rope_scaling) in place
    cfg["text_config"].update(copy.deepcopy(text))
    cfg["vision_config"].update(copy.deepcopy(TINY_VISION))
    cfg["text_config"]["dtype"] = "bfloat16"
    return cfg


@dataclass(frozen=True)
class VisionRules:
    """The image processor's settings that decide the token count (from preprocessor_config.json)."""

    patch_size: int = 16
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 65_536
    max_pixels: int = 16_777_216

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


@lru_cache(maxsize=1)
def default_rules() -> VisionRules:
    """The family's rules, read from data/configs/preprocessor_config.json."""
    pre = json.loads((CONFIGS_DIR / "preprocessor_config.json").read_text())
    size = pre.get("size", {})
    return VisionRules(
        patch_size=int(pre.get("patch_size", 16)),
        merge_size=int(pre.get("merge_size", 2)),
        temporal_patch_size=int(pre.get("temporal_patch_size", 2)),
        min_pixels=int(size.get("shortest_edge", pre.get("min_pixels", 65_536))),
        max_pixels=int(size.get("longest_edge", pre.get("max_pixels", 16_777_216))),
    )
