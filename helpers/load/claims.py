"""Claim c of the popular guide's loading advice, which needs a relabelled copy of a checkpoint.

Notebook 00 writes the short claim checks (a, b, g, h) in its own cells; claim c needs a copy of the MoE
checkpoint with config.json relabelled as dense, so that part lives here. The notebook asserts on what
really happened, so a change in Transformers' behaviour makes the cell fail instead of leaving stale advice.

Example:
    >>> from helpers.core.fixtures import build_fixtures
    >>> check_relabelled_moe(build_fixtures()["tiny-moe"])["class"]    # doctest: +SKIP
    'Qwen3VLForConditionalGeneration'
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from helpers.load.loading import LoadingReport


def relabel_as_dense(src: Path, dst: Path) -> Path:
    """Copy a MoE checkpoint (hard links for the shards) with config.json relabelled as dense `qwen3_vl`."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in Path(src).iterdir():
        target = dst / f.name
        if f.suffix == ".safetensors":
            try:
                target.hardlink_to(f)
            except OSError:
                shutil.copy2(f, target)
        elif f.is_file():
            shutil.copy2(f, target)
    config = json.loads((dst / "config.json").read_text())
    config["model_type"] = "qwen3_vl"
    config["architectures"] = ["Qwen3VLForConditionalGeneration"]
    config["text_config"]["model_type"] = "qwen3_vl_text"
    config["vision_config"]["model_type"] = "qwen3_vl"
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    return dst


def check_relabelled_moe(moe_checkpoint: str) -> dict[str, Any]:
    """Claim c: 'config.json's model_type must be qwen3_vl'. Loads the MoE checkpoint relabelled as
    qwen3_vl (non-strictly, to see what Transformers does) and returns the class and its loading report."""
    from transformers import AutoModelForImageTextToText

    with tempfile.TemporaryDirectory(prefix="relabelled-") as tmp:
        folder = relabel_as_dense(Path(moe_checkpoint), Path(tmp) / "ckpt")
        model, info = AutoModelForImageTextToText.from_pretrained(folder, output_loading_info=True)
        report = LoadingReport.from_info(info)
    return {"class": type(model).__name__, "report": report}
