"""Executed checks of the popular guide's loading advice (claims a, b, c, g, h; the others live with
their topics).

Each function runs the library and returns what really happened; the notebook asserts on it, so a
change in Transformers' behaviour makes the cell fail instead of leaving stale advice in place.

Example:
    >>> check_vision2seq_import()["importable"]
    False
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from helpers.core.model import model_config
from helpers.load.loading import LoadingReport


def check_vision2seq_import() -> dict[str, Any]:
    """Claim a: 'load it with AutoModelForVision2Seq'. Returns whether that name still imports, and the
    class that AutoModelForImageTextToText maps the 30B's model_type to."""
    from transformers import AutoModelForImageTextToText

    try:
        from transformers import AutoModelForVision2Seq  # noqa: F401

        importable, error = True, ""
    except ImportError as err:
        importable, error = False, str(err).splitlines()[0]
    mapping = AutoModelForImageTextToText._model_mapping._model_mapping  # model_type -> class name
    return {"importable": importable, "error": error, "qwen3_vl_moe": mapping.get("qwen3_vl_moe")}


def check_builtin_class(model: Any, choice: Any) -> dict[str, Any]:
    """Claim b: 'trust_remote_code=True is required'. Where the loaded class comes from, and whether
    the checkpoint's config (`choice`: a `ModelChoice`, a setting or a config path) points at remote
    code (auto_map)."""
    config = model_config(choice)
    return {
        "class": type(model).__name__,
        "module": type(model).__module__,
        "builtin": type(model).__module__.startswith("transformers.models."),
        "auto_map": config.get("auto_map"),
    }


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
