"""`qwen3vl memory`: the command line of helpers.estimate.memory."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pandas as pd

import helpers.estimate.memory as memory
from helpers.core.arguments import ascii_int
from helpers.core.errors import WorkbookError, cli_exit
from helpers.core.model import select_model
from helpers.core.tables import frame, to_text
from helpers.core.units import gib
from helpers.estimate.memory import MemoryEstimate, estimate_peak_memory
from helpers.estimate.placement import plan_placement
from helpers.estimate.video_tokens import parse_video
from helpers.estimate.vision_tokens import parse_size


def memory_rows(est: MemoryEstimate, placement: dict[str, Any] | None = None) -> pd.DataFrame:
    """The estimate as a DataFrame: one row per term (GiB), then parameters and, given, the placement.

    Example:
        >>> rows = memory_rows(estimate_peak_memory("tiny", device="cpu"))
        >>> rows["term"].tolist()[:2]
        ['weights', 'kv_cache']
    """
    g = est.gib()
    terms = ("weights_bytes", "kv_cache_bytes", "activation_bytes", "overhead_bytes", "peak_bytes")
    rows: list[dict[str, Any]] = [{"term": k[: -len("_bytes")], "value": g[k], "unit": "GiB"} for k in terms]
    rows.append({"term": "parameters", "value": round(est.total_params / 1e9, 3), "unit": "B"})
    rows.append({"term": "active/token", "value": round(est.active_params / 1e9, 3), "unit": "B"})
    if placement:
        for device, n in placement["bytes_by_device"].items():
            rows.append({"term": f"on {device}", "value": round(gib(n), 3), "unit": "GiB"})
        transfer = placement["transfer_bytes_per_token"]
        rows.append({"term": "transfer/token", "value": round(gib(transfer), 3), "unit": "GiB"})
    return frame(rows)


def _headline(est: MemoryEstimate, placement: dict[str, Any] | None) -> str:
    line = (
        f"{est.model_type}  dtype={est.dtype}  context={est.context_tokens}  batch={est.batch}  "
        f"sequence={est.sequence_tokens} tokens (visual {est.visual_tokens})"
    )
    if placement:
        line += f"\nplacement on {placement['hardware']}: fits={placement['fits']}"
    return line


def main(argv: list[str] | None = None, prog: str = "qwen3vl") -> int:
    p = argparse.ArgumentParser(prog=prog, description=memory.__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="config file, checkpoint folder, known Hub id, or tiny")
    p.add_argument("--dtype", default="bfloat16", help="bfloat16, float16, float32, fp8, int8, int4")
    p.add_argument(
        "--context", type=ascii_int, default=4096, help="text tokens per sequence (prompt + answer)"
    )
    p.add_argument("--batch", type=ascii_int, default=1)
    p.add_argument(
        "--image", action="append", default=[], metavar="WxH", help="an image per sequence (repeatable)"
    )
    p.add_argument(
        "--video",
        action="append",
        default=[],
        metavar="WxH:SECONDS[@FPS]",
        help="a video per sequence, e.g. 1280x720:60@30 (clip fps defaults to 30; repeatable)",
    )
    p.add_argument(
        "--cap-pixels-per-frame",
        action="store_true",
        help="the reference (qwen-vl-utils) per-frame pixel cap for videos "
        "(off: Transformers 5.23's default)",
    )
    p.add_argument("--max-pixels", type=ascii_int, default=None)
    p.add_argument("--min-pixels", type=ascii_int, default=None)
    p.add_argument("--gpus", default=None, help="hardware, e.g. 2xA100-80GB (data/hardware.json)")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager", "flash_attention_2"])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    try:
        args = p.parse_args(argv)
    except SystemExit as exit_:
        return 2 if exit_.code else 0
    try:
        sizes = [parse_size(s) for s in args.image]
        videos = [parse_video(s) for s in args.video]
        for name in ("max_pixels", "min_pixels"):
            v = getattr(args, name)
            if v is not None and not 1 <= v <= 10**9:
                raise WorkbookError(
                    f"--{name.replace('_', '-')} {v}: give a pixel count between 1 and 1,000,000,000"
                )
        choice = select_model(args.model, weights=False, what="--model")
        est = estimate_peak_memory(
            choice,
            args.dtype,
            args.context,
            args.batch,
            sizes,
            args.max_pixels,
            args.min_pixels,
            args.device,
            args.attn,
            videos=videos,
            cap_pixels_per_frame=args.cap_pixels_per_frame,
        )
        placement = None
        if args.gpus:
            placement = plan_placement(choice, args.gpus, est).summary()
    except WorkbookError as err:
        return cli_exit(err)
    if args.json:
        out = est.as_dict()
        if placement:
            out["placement"] = placement
        print(json.dumps(out))
    else:
        print(_headline(est, placement))
        print(to_text(memory_rows(est, placement)))
    return 0
