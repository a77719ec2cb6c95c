"""config.json checks, and the shapes the architecture expects (built on the meta device, no weights).

Example:
    >>> from helpers.core.fixtures import tiny_config_dict
    >>> shapes, tied = expected_shapes(tiny_config_dict("tiny-moe"))
    >>> shapes["model.language_model.layers.0.mlp.experts.gate_up_proj"], tied
    ((4, 96, 64), False)
"""

from __future__ import annotations

import functools
import json
from typing import Any

from helpers.core.paths import CONFIGS_DIR

from .report import Report

# The family's reference labels, read from the stored release configs.
LABEL_SOURCES = {"moe": "Qwen3-VL-30B-A3B-Instruct.json", "dense": "Qwen3-VL-2B-Instruct.json"}
DTYPE_NAMES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}
FLOAT_DTYPES = frozenset(
    DTYPE_NAMES.values()
)  # the float dtypes a config declares and a repair casts between


def family_labels(kind: str) -> dict[str, Any]:
    """model_type / architectures of the MoE or dense release (top level and sub-configs)."""
    cfg = json.loads((CONFIGS_DIR / LABEL_SOURCES[kind]).read_text())
    return {
        "model_type": cfg["model_type"],
        "architectures": cfg["architectures"],
        "text_model_type": cfg["text_config"]["model_type"],
        "vision_model_type": cfg["vision_config"]["model_type"],
    }


def known_model_type(model_type: object) -> bool:
    from transformers import CONFIG_MAPPING

    return isinstance(model_type, str) and model_type in CONFIG_MAPPING


@functools.lru_cache(maxsize=16)
def _expected(cfg_json: str) -> tuple[tuple[tuple[str, tuple[int, ...]], ...], bool]:
    from helpers.estimate.census import meta_model
    from helpers.load.loading import quiet_transformers

    with quiet_transformers():
        model = meta_model(json.loads(cfg_json))
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    shapes = tuple((n, tuple(t.shape)) for n, t in model.state_dict().items())
    return shapes, tied


def expected_shapes(cfg: dict[str, Any]) -> tuple[dict[str, tuple[int, ...]], bool]:
    """{parameter name: shape} of the model this config builds, and whether lm_head is tied to the
    embeddings. Built on the meta device (no memory, well under a second); cached per config."""
    clean = {k: v for k, v in cfg.items() if k not in ("auto_map", "torch_dtype", "dtype")}
    shapes, tied = _expected(json.dumps(clean, sort_keys=True))
    return dict(shapes), tied


def check_config(cfg: dict[str, Any], moe_tensors: bool, dense_tensors: bool, report: Report) -> bool:
    """Label and consistency checks; returns True when the config can build a model (so shapes can be
    checked)."""
    from helpers.core.config_rules import config_problems

    problems = config_problems(cfg) if str(cfg.get("model_type", "")).startswith("qwen3_vl") else []
    if (
        moe_tensors and cfg.get("model_type") == "qwen3_vl"
    ):  # MoE weights labelled dense: a mislabel, reported below
        problems = [p for p in problems if "is a dense model" not in p]
    for problem in problems:
        report.add("config-inconsistent", "error", problem, "restore config.json from the base model")
    if problems:
        return False
    mt = cfg.get("model_type")
    if not known_model_type(mt):
        inferred = "moe" if moe_tensors else "dense"
        report.add(
            "model-type-unknown",
            "error",
            f"model_type {str(mt)[:40]!r} is not a Transformers model type",
            f"set model_type to {family_labels(inferred)['model_type']!r} (inferred from the tensor names)",
            True,
        )
        return False
    if mt.startswith("qwen3_vl"):
        want = "moe" if moe_tensors else "dense" if dense_tensors else None
        have = "moe" if mt == "qwen3_vl_moe" else "dense"
        if want and want != have:
            labels = family_labels(want)
            report.add(
                "model-type-mismatch",
                "error",
                f"config says {mt!r} but the tensors are {'MoE experts' if want == 'moe' else 'dense MLPs'}: "
                "Transformers builds the wrong model and leaves its MLPs RANDOM",
                f"set model_type {labels['model_type']!r}, architectures {labels['architectures']}",
                True,
            )
            return False
        arch = cfg.get("architectures") or []
        labels = family_labels(have)
        if arch and arch != labels["architectures"]:
            report.add(
                "architectures-mismatch",
                "warning",
                f"architectures {arch} do not match model_type {mt!r}",
                f"set architectures to {labels['architectures']}",
                True,
            )
    if "auto_map" in cfg:
        report.add(
            "auto-map-remote-code",
            "warning",
            f"auto_map points at remote code {sorted(cfg['auto_map'].values())[:2]} (never executed here)",
            "Qwen3-VL is built into Transformers: drop auto_map and never pass trust_remote_code",
            True,
        )
    if "torch_dtype" in cfg:
        clash = "dtype" in cfg and cfg["dtype"] != cfg["torch_dtype"]
        report.add(
            "config-torch-dtype",
            "warning" if clash else "info",
            f"config has the deprecated key torch_dtype={cfg['torch_dtype']!r}"
            + (f" beside dtype={cfg['dtype']!r}" if clash else ""),
            "rename torch_dtype to dtype (Transformers 5 reads dtype)",
            True,
        )
    return True


def config_dtype(cfg: dict[str, Any]) -> str | None:
    """The safetensors dtype name the config declares ("BF16"), if any."""
    name = cfg.get("dtype") or cfg.get("torch_dtype") or (cfg.get("text_config") or {}).get("dtype")
    return DTYPE_NAMES.get(name) if isinstance(name, str) else None


def text_config(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else cfg
