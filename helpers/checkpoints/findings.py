"""The doctor's findings on what the tensors should be: shapes against the architecture the config builds,
dtypes against the config, and the processor / tokenizer / chat-template files beside the weights.

Example:
    >>> from helpers.checkpoints.report import Report
    >>> r = Report(path="x")
    >>> check_dtype({"dtype": "bfloat16"}, {"w": ("BF16", (2, 2))}, r)
    >>> r.findings
    []
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from helpers.core.safetensors_io import DTYPE_BYTES

from . import config_checks as cc
from . import keys as K
from .report import Report

PROCESSOR_PARTS = {
    "tokenizer": (["tokenizer.json"], ["vocab.json", "merges.txt"]),
    "tokenizer config": (["tokenizer_config.json"],),
    "image processor": (["preprocessor_config.json"], ["processor_config.json"]),
    "chat template": (["chat_template.jinja"], ["chat_template.json"]),
}
PROCESSOR_FILES = sorted({f for alts in PROCESSOR_PARTS.values() for alt in alts for f in alt})


def check_shapes(cfg: dict, virtual: dict, report: Report) -> None:
    """Missing, unexpected and mis-shaped tensors against the model the config builds (meta device)."""
    text = cc.text_config(cfg)
    emb = virtual.get("model.language_model.embed_tokens.weight")
    if emb and text.get("vocab_size") != emb[1][0]:
        lm = virtual.get("lm_head.weight")
        report.add(
            "vocab-size-mismatch",
            "error",
            f"vocab_size {text.get('vocab_size')} but the embedding has "
            f"{emb[1][0]} rows (load fails: size mismatch)",
            f"set vocab_size to {emb[1][0]}",
            lm is None or lm[1][0] == emb[1][0],
        )
        cfg = json.loads(json.dumps(cfg))
        cc.text_config(cfg)["vocab_size"] = emb[1][0]
    try:
        expected, tied = cc.expected_shapes(cfg)
    except Exception as err:  # noqa: BLE001 - a config Transformers cannot build is one finding
        report.add(
            "config-invalid",
            "error",
            f"Transformers cannot build this config: {str(err)[:160]}",
            "restore config.json from the base model",
        )
        return
    missing = sorted(set(expected) - set(virtual))
    if "lm_head.weight" in missing and tied:
        missing.remove("lm_head.weight")
    if "lm_head.weight" in missing:
        missing.remove("lm_head.weight")
        report.add(
            "lm-head-missing",
            "error",
            "lm_head.weight is absent and the config does not tie it to the embeddings: it loads RANDOM",
            "copy lm_head.weight from the original checkpoint (tie the "
            "embeddings only if the model was trained tied)",
        )
    extra = sorted(set(virtual) - set(expected))
    if "lm_head.weight" in extra and tied:
        extra.remove("lm_head.weight")
        report.add(
            "lm-head-extra",
            "info",
            "lm_head.weight is stored but the config ties it to the embeddings (it is ignored)",
            "set tie_word_embeddings=false if lm_head differs from the embeddings",
        )
    if missing:
        report.add(
            "missing-tensors",
            "error",
            f"{len(missing)} parameters absent (they load RANDOM), e.g. {missing[0]}",
            "get the complete checkpoint",
        )
    if extra:
        report.add(
            "unexpected-tensors",
            "error",
            f"{len(extra)} tensors the architecture does not have, e.g. {extra[0]}",
            "check model_type/config against the weights",
        )
    bad, release = [], 0
    for name, (_, shape) in virtual.items():
        want = expected.get(name)
        if want is None or tuple(want) == shape:
            if want is not None and K.FUSED.match(name) and want[1] == want[2]:
                release = -1
            continue
        if K.FUSED.match(name) and len(shape) == 3 and (shape[0], shape[2], shape[1]) == tuple(want):
            release += release >= 0
            continue
        bad.append(f"{name}: stored {list(shape)}, architecture {list(want)}")
    if release > 0:
        report.add(
            "experts-release-layout",
            "info",
            f"{release} fused expert tensors use the release layout "
            "[E, H, 2I] / [E, I, H]; Transformers transposes them on load (shapes differ, so it can tell)",
            "nothing to do",
        )
    if release < 0:
        report.add(
            "experts-ambiguous-square",
            "warning",
            "expert matrices are square (2I == H or I == H): neither "
            "Transformers nor the doctor can tell the release layout from the in-memory one by shape; a "
            "release-layout file loads TRANSPOSED, silently",
            "compare logits with a trusted reference, or "
            "repair with expert_layout='release' / 'memory' as you know it",
            True,
        )
    if bad:
        report.add(
            "shape-mismatch",
            "error",
            f"{len(bad)} tensors do not fit the architecture, e.g. {bad[0]}",
            "the config and the weights disagree: get the matching config or weights",
        )


def check_dtype(cfg: dict, virtual: dict, report: Report) -> None:
    """Float dtypes that drift from the one the config declares."""
    want = cc.config_dtype(cfg)
    floats = Counter()
    for dt, shape in virtual.values():
        if dt in cc.FLOAT_DTYPES:
            floats[dt] += math.prod(shape) * DTYPE_BYTES[dt]
    if want and floats and floats.most_common(1)[0][0] != want:
        have = floats.most_common(1)[0][0]
        report.add(
            "dtype-drift",
            "warning",
            f"config says {want} but {floats[have] / sum(floats.values()):.0%} of the "
            f"weight bytes are {have}",
            f"cast the float tensors to {want}",
            True,
        )
    elif want and len(floats) > 1:
        odd = sorted(n for n, (dt, _) in virtual.items() if dt in floats and dt != want)
        report.add(
            "dtype-mixed",
            "warning",
            f"{len(odd)} float tensors are not {want} (e.g. {odd[0]}); a Transformers save writes one dtype",
            f"cast them to {want} if that was intended",
            True,
        )


def check_processor(folder: Path, report: Report) -> None:
    """Processor, tokenizer and chat-template files AutoProcessor needs."""
    present = {p.name for p in folder.iterdir()}
    missing = [part for part, alts in PROCESSOR_PARTS.items() if not any(set(a) <= present for a in alts)]
    if "chat template" in missing:
        for cfg_name in ("tokenizer_config.json", "processor_config.json"):
            try:
                if "chat_template" in json.loads((folder / cfg_name).read_text()):
                    missing.remove("chat template")
                    break
            except Exception:  # noqa: BLE001
                pass
    if missing:
        report.add(
            "processor-files-missing",
            "warning",
            f"missing {', '.join(missing)}: AutoProcessor will fail",
            "copy them from the base model folder (repair --base BASE)",
            True,
        )
