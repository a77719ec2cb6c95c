"""Consistency rules for a Qwen3-VL config dict, shared by the estimator and the checkpoint doctor.

Every size must be a plain integer between 1 and an upper bound that keeps every computation instant
(no real Qwen3-VL comes near the bounds); the expert count is read the way Transformers 5 reads it
(`num_local_experts`, or its older alias `num_experts`), and the two must agree when both are given.

Example:
    >>> from helpers.core.configs import tiny_config_dict
    >>> config_problems(tiny_config_dict("tiny-moe"))
    []
    >>> cfg = tiny_config_dict("tiny-moe")
    >>> cfg["text_config"]["num_experts_per_tok"] = 9
    >>> config_problems(cfg)[0]
    'text_config.num_experts_per_tok 9 is more than the 4 experts: set it to at most 4'
"""

from __future__ import annotations

import math
from typing import Any

# field -> upper bound. The 235B-A22B has 94 layers, 128 experts, vocab 151,936: the bounds leave ample room.
# (fmt: skip keeps these literal tables a few lines long instead of one key per line.)
TEXT_LIMITS = {
    "hidden_size": 1 << 16, "num_hidden_layers": 1024, "num_attention_heads": 1024,
    "num_key_value_heads": 1024, "head_dim": 4096, "intermediate_size": 1 << 20,
    "moe_intermediate_size": 1 << 20, "vocab_size": 1 << 22,
    "num_local_experts": 4096, "num_experts": 4096, "num_experts_per_tok": 4096,
    "max_position_embeddings": 1 << 24,
}  # fmt: skip
VISION_LIMITS = {
    "depth": 1024, "hidden_size": 1 << 16, "intermediate_size": 1 << 20, "num_heads": 1024,
    "patch_size": 1024, "spatial_merge_size": 64, "temporal_patch_size": 64, "out_hidden_size": 1 << 16,
    "num_position_embeddings": 1 << 24, "in_channels": 64,
}  # fmt: skip


def is_count(value: object) -> bool:
    """True for a plain int (bool excluded) or an integral float such as 4.0 that JSON may produce."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


def expert_count(text: dict[str, Any]) -> int:
    """Experts per MoE layer as Transformers 5 reads them: num_local_experts, else num_experts, else 0.

    Example:
        >>> expert_count({"num_local_experts": 128}), expert_count({"num_experts": 60}), expert_count({})
        (128, 60, 0)
    """
    for key in ("num_local_experts", "num_experts"):
        value = text.get(key)
        if is_count(value) and value:
            return int(value)
    return 0


def _sizes(section: dict[str, Any], limits: dict[str, int], where: str) -> list[str]:
    out = []
    for key, bound in limits.items():
        if key not in section or (section[key] is None and key == "num_experts"):  # head_dim: an int
            continue
        value = section[key]
        if not is_count(value):
            out.append(f"{where}.{key} {value!r} is not a whole number: give a positive integer")
        elif not 1 <= value <= bound:
            out.append(f"{where}.{key} {value!r} is out of range: give an integer between 1 and {bound:,}")
    return out


def config_problems(cfg: object) -> list[str]:
    """Every contradiction or bad value in a Qwen3-VL config, one line each (empty when consistent)."""
    if not isinstance(cfg, dict):
        return [f"the config is a {type(cfg).__name__}, not a JSON object: restore config.json"]
    problems = []
    text, vision = cfg.get("text_config", {}), cfg.get("vision_config", {})
    for name, section in (("text_config", text), ("vision_config", vision)):
        if not isinstance(section, dict):
            problems.append(f"{name} is {section!r}, not an object: restore it from the base model's config")
    if problems:
        return problems
    problems += _sizes(text, TEXT_LIMITS, "text_config")
    problems += _sizes(vision, VISION_LIMITS, "vision_config")
    if problems:
        return problems
    local, legacy = text.get("num_local_experts"), text.get("num_experts")
    if local is not None and legacy is not None and local != legacy:
        problems.append(
            f"text_config has num_local_experts {local} and num_experts {legacy}: they name the same count; "
            "keep one (Transformers reads num_local_experts)"
        )
    experts, top_k = expert_count(text), text.get("num_experts_per_tok")
    moe_keys = [
        k for k in ("num_local_experts", "num_experts", "num_experts_per_tok") if text.get(k) is not None
    ]
    if cfg.get("model_type") == "qwen3_vl" and moe_keys:
        problems.append(
            f"text_config has {moe_keys[0]} but model_type 'qwen3_vl' is a dense model: "
            "remove the expert keys, or set model_type 'qwen3_vl_moe' if the checkpoint holds experts"
        )
    if cfg.get("model_type") == "qwen3_vl_moe":
        for key in ("num_experts_per_tok", "moe_intermediate_size"):
            if text.get(key) is None:
                problems.append(f"text_config.{key} is missing from a qwen3_vl_moe config: restore it")
        if not experts:
            problems.append("text_config has no expert count (num_local_experts) in a qwen3_vl_moe config")
    if experts and is_count(top_k) and top_k > experts:
        problems.append(
            f"text_config.num_experts_per_tok {top_k} is more than the {experts} experts: "
            f"set it to at most {experts}"
        )
    heads, kv = text.get("num_attention_heads"), text.get("num_key_value_heads")
    if is_count(heads) and is_count(kv) and heads % kv:
        problems.append(
            f"text_config.num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}: "
            "restore both from the base model's config"
        )
    hidden = text.get("hidden_size")
    if "head_dim" not in text and is_count(hidden) and is_count(heads) and hidden % heads:
        problems.append(f"text_config.hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
    return problems
