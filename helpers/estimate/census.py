"""Parameter census of a Qwen3-VL model from its config, on the meta device with the real class.

`AutoModelForImageTextToText.from_config` under ``torch.device("meta")`` builds the exact module tree
without allocating a byte; we count every parameter by component and price it per dtype.

Quantised sizes (fp8, int8, int4) are a stated convention, not a measurement of one library:
the language model's projection weights (attention q/k/v/o, dense MLP, fused MoE experts) are
quantised; the vision tower, token embeddings, lm_head, router (`mlp.gate`), norms and biases stay
in bf16 (`HIGH_PRECISION`). Scales: fp8 one fp32 per 128x128 block (Qwen's FP8 releases), int8 one
fp32 per output row, int4 one fp16 scale + a 4-bit zero per group of 128 inputs (GPTQ/AWQ style).
bitsandbytes is different again: it quantises `nn.Linear` only and skips the fused 3-D experts.

Example:
    >>> c = census("data/configs/Qwen3-VL-30B-A3B-Instruct.json")
    >>> c.n_tensors, round(c.total_params / 1e9, 2), round(c.active_params / 1e9, 2)
    (882, 31.07, 3.35)
    >>> round(c.weights_bytes("bfloat16") / GIB, 1)
    57.9
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from helpers.core.config_rules import expert_count
from helpers.core.configs import build_config, check_config
from helpers.core.errors import WorkbookError
from helpers.core.model import model_config
from helpers.core.paths import CONFIGS_DIR
from helpers.core.units import GIB

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "fp8": 1, "int8": 1, "int4": 0.5}
DTYPE_ALIASES = {
    "bf16": "bfloat16",
    "fp16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float": "float32",
    "float8": "fp8",
    "float8_e4m3fn": "fp8",
}
COMPONENTS = ("vision", "embed_tokens", "attention", "experts", "router", "dense_mlp", "norms", "lm_head")
QUANTISED = ("attention", "experts", "dense_mlp")
HIGH_PRECISION = ("vision", "embed_tokens", "router", "norms", "lm_head")
# scheme -> (scale bytes per group, group shape): fp8 128x128 blocks; int8 per row; int4 rows x 128 inputs
_SCALES = {"fp8": (4, (128, 128)), "int8": (4, (1, None)), "int4": (2.5, (1, 128))}


def canonical_dtype(dtype: str) -> str:
    """Normalise a dtype name; one-line error when unknown.

    Example:
        >>> canonical_dtype("bf16")
        'bfloat16'
    """
    name = DTYPE_ALIASES.get(
        str(dtype).lower().replace("torch.", ""), str(dtype).lower().replace("torch.", "")
    )
    if name not in DTYPE_BYTES:
        raise WorkbookError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPE_BYTES)}")
    return name


def meta_model(config: Any, dtype: Any = None):
    """The real model class, built on the meta device (no memory, well under a second; ~2 s for the 30B).

    `config` is a `ModelChoice`, any setting `select_model` takes, or a config dict (never modified).
    `dtype` ("bfloat16", torch.bfloat16 …) is the parameters' dtype; None keeps Transformers' default
    (float32 for a release config).

    Example:
        >>> m = meta_model("tiny", "bfloat16")
        >>> type(m).__name__, next(m.parameters()).device.type, next(m.parameters()).dtype
        ('Qwen3VLMoeForConditionalGeneration', 'meta', torch.bfloat16)
    """
    import torch
    from transformers import AutoModelForImageTextToText

    cfg = build_config(model_config(config))
    kwargs = {} if dtype is None else {"dtype": getattr(torch, dtype) if isinstance(dtype, str) else dtype}
    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(cfg, **kwargs)


def component_of(name: str) -> str:
    """Which census component a parameter name belongs to.

    Example:
        >>> component_of("model.language_model.layers.0.mlp.experts.down_proj")
        'experts'
    """
    if ".visual." in f".{name}":
        return "vision"
    if name.endswith("embed_tokens.weight"):
        return "embed_tokens"
    if name.startswith("lm_head"):
        return "lm_head"
    if ".mlp.experts." in name:
        return "experts"
    if ".mlp.gate.weight" in name and ".mlp.gate_proj" not in name:
        return "router"
    if "norm" in name.rsplit(".", 2)[-2]:
        return "norms"
    if ".self_attn." in name:
        return "attention"
    if ".mlp." in name:
        return "dense_mlp"
    raise WorkbookError(f"census: no component for parameter {name!r}; update helpers/census.py")


def _scale_count(shape: tuple[int, ...], scheme: str) -> int:
    """Number of scale groups for one weight (3-D expert tensors: per expert; matrices are [.., out, in])."""
    *lead, rows, cols = shape
    _, (gr, gc) = _SCALES[scheme]
    n = math.ceil(rows / gr) * (1 if gc is None else math.ceil(cols / gc))
    return n * math.prod(lead)


@dataclass
class Census:
    """Parameters by component, total and active per token, and bytes per dtype."""

    model_type: str
    class_name: str
    n_tensors: int
    components: dict[str, int]
    scale_groups: dict[str, int]
    active_params: int

    @property
    def total_params(self) -> int:
        return sum(self.components.values())

    def bytes_by_component(self, dtype: str = "bfloat16") -> dict[str, int]:
        """Bytes of each component in `dtype` (quantised schemes: quantised parts + scales, the rest bf16)."""
        dtype = canonical_dtype(dtype)
        if dtype in _SCALES:
            out = {}
            for comp, n in self.components.items():
                if comp in QUANTISED:
                    out[comp] = math.ceil(n * DTYPE_BYTES[dtype])
                else:
                    out[comp] = n * 2
            out["scales"] = math.ceil(self.scale_groups[dtype] * _SCALES[dtype][0])
            return out
        return {comp: n * int(DTYPE_BYTES[dtype]) for comp, n in self.components.items()}

    def weights_bytes(self, dtype: str = "bfloat16") -> int:
        """Total weight bytes in `dtype` (exact for bf16/fp16/fp32; the stated convention for
        fp8/int8/int4)."""
        return sum(self.bytes_by_component(dtype).values())


def census_from_dict(cfg: dict[str, Any]) -> Census:
    """Census of a config dict (see `census`); a contradictory config is one WorkbookError line."""
    check_config(cfg)
    model = meta_model(cfg)
    comps = dict.fromkeys(COMPONENTS, 0)
    scales = dict.fromkeys(_SCALES, 0)
    names = list(dict(model.named_parameters()))  # tied weights appear once
    for name, p in model.named_parameters():
        comp = component_of(name)
        comps[comp] += p.numel()
        if comp in QUANTISED and p.dim() >= 2:
            for scheme in _SCALES:
                scales[scheme] += _scale_count(tuple(p.shape), scheme)
    text = cfg["text_config"]
    e_total = expert_count(text)
    e_k = int(text.get("num_experts_per_tok", 0) or 0)
    text_params = sum(v for k, v in comps.items() if k not in ("vision",))
    active = text_params - comps["experts"] + (comps["experts"] * e_k // e_total if e_total else 0)
    return Census(
        model_type=cfg["model_type"],
        class_name=type(model).__name__,
        n_tensors=len(names),
        components={k: v for k, v in comps.items() if v or k in ("vision", "embed_tokens", "attention")},
        scale_groups=scales,
        active_params=active,
    )


@lru_cache(maxsize=32)
def _census_cached(key: str) -> Census:
    return census_from_dict(json.loads(key))


def census(model: Any) -> Census:
    """Census of a `ModelChoice`, a setting (config file, checkpoint folder, known Hub id, `tiny`) or a
    config dict.

    Example:
        >>> census("tiny").class_name
        'Qwen3VLMoeForConditionalGeneration'
    """
    cfg = model_config(model)
    return _census_cached(json.dumps(cfg, sort_keys=True))


def family_census(dtypes: tuple[str, ...] = ("bfloat16", "float32", "fp8", "int4")) -> list[dict[str, Any]]:
    """One row per config in data/configs: name, params total/active, and GiB per dtype.

    Example:
        >>> rows = family_census()
        >>> [r["name"] for r in rows][:1]
        ['Qwen3-VL-2B-Instruct']
    """
    rows = []
    for path in sorted(CONFIGS_DIR.glob("Qwen3-VL-*.json"), key=lambda p: census(p).total_params):
        c = census(path)
        row: dict[str, Any] = {
            "name": path.stem,
            "type": c.model_type,
            "tensors": c.n_tensors,
            "total_params": c.total_params,
            "active_params": c.active_params,
        }
        for comp, n in c.components.items():
            row[f"{comp}_params"] = n
        for dt in dtypes:
            row[f"{dt}_GiB"] = round(c.weights_bytes(dt) / GIB, 2)
        rows.append(row)
    return rows


def count_from_config(cfg: dict[str, Any]) -> int:
    """Independent parameter count by config arithmetic (no Transformers): used to check the census.

    Example:
        >>> hub_id = "Qwen/Qwen3-VL-30B-A3B-Instruct"
        >>> count_from_config(model_config(hub_id)) == census(hub_id).total_params
        True
    """
    t, v = cfg["text_config"], cfg["vision_config"]
    H, L, V = t["hidden_size"], t["num_hidden_layers"], t["vocab_size"]
    hd = t.get("head_dim") or H // t["num_attention_heads"]
    nq, nkv = t["num_attention_heads"], t["num_key_value_heads"]
    attn = H * nq * hd * 2 + H * nkv * hd * 2 + 2 * hd  # q,o + k,v + q_norm,k_norm
    if expert_count(t):
        E, I_ = expert_count(t), t["moe_intermediate_size"]
        mlp = E * 3 * H * I_ + E * H
    else:
        mlp = 3 * H * t["intermediate_size"]
    text = L * (attn + mlp + 2 * H) + H + V * H
    tied = cfg.get("tie_word_embeddings", t.get("tie_word_embeddings", False))
    lm_head = 0 if tied else V * H
    Hv, Iv, P = v["hidden_size"], v["intermediate_size"], v["patch_size"]
    m2 = v["spatial_merge_size"] ** 2
    patch = 3 * v["temporal_patch_size"] * P * P * Hv + Hv
    block = 4 * Hv + 3 * Hv * Hv + 3 * Hv + Hv * Hv + Hv + 2 * Hv * Iv + Iv + Hv
    merger_in = Hv * m2

    def merger(norm: int) -> int:
        out = v["out_hidden_size"]
        return norm * 2 + merger_in * merger_in + merger_in + merger_in * out + out

    vision = patch + v["num_position_embeddings"] * Hv + v["depth"] * block + merger(Hv)
    vision += len(v.get("deepstack_visual_indexes", [])) * merger(merger_in)
    return text + lm_head + vision
