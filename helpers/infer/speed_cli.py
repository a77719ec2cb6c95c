"""`qwen3vl speed`: the decode roofline of a model on a GPU profile, or a measured decode on the bench MoE.

Examples:
    qwen3vl speed roofline --model Qwen/Qwen3-VL-30B-A3B-Instruct --gpus H200-141GB --batch 16 --json
    qwen3vl speed bench --experts batched_mm --attn sdpa --batch 4 --tokens 12

Bad input (an unknown or unavailable backend, a batch or budget out of range, an unknown GPU) gets one
line that says what to use instead, exit code 2, before anything loads. The bench model has RANDOM
weights: its tokens are noise, its speed is real.
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from helpers.core.arguments import ascii_int
from helpers.core.errors import WorkbookError


def _roofline(args: argparse.Namespace) -> dict:
    from helpers.core.hardware import load_profiles, parse_gpus
    from helpers.infer.roofline import decode_bytes_per_step, measure_host_bandwidth

    if args.gpus == "cpu":
        bandwidth, source = measure_host_bandwidth(), "measured: large copy on this machine"
    else:
        hw = parse_gpus(args.gpus)
        card = load_profiles()["gpus"][hw.gpu]
        bandwidth, source = float(card["bandwidth_gbps"]) * 1e9, card["bandwidth_source"]
    step = decode_bytes_per_step(args.model, args.batch, args.context)
    return {
        "model": args.model,
        "hardware": args.gpus,
        "batch": args.batch,
        "context_tokens": args.context,
        "bandwidth_GBps": round(bandwidth / 1e9, 2),
        "bandwidth_source": source,
        "GiB_per_step": round(step.total_bytes / 2**30, 3),
        "distinct_experts_per_layer": round(step.distinct_experts_per_layer, 2),
        "roofline_tok_s": round(args.batch * bandwidth / step.total_bytes, 1),
    }


def _bench(args: argparse.Namespace) -> dict:
    import torch

    from helpers.core.fixtures import random_model
    from helpers.infer.speed import bench_config, bench_dtype, bench_inputs, set_backends, timed_generate

    torch.set_num_threads(max(1, args.threads))
    model = set_backends(random_model(bench_config()).to(bench_dtype("cpu")), args.experts, args.attn)
    # random ids below the bench model's scaled-down vocabulary (the real tokenizer's ids would not fit)
    inputs = bench_inputs(args.batch, 64)
    timed_generate(model, inputs, 3)  # warm-up
    r = timed_generate(model, inputs, args.tokens)
    return {
        "model": "bench MoE (128 experts, top-8, RANDOM weights)",
        "experts": args.experts,
        "attn": args.attn,
        "batch": args.batch,
        "prefill_tok_s": round(r["prefill_tok_s"], 1),
        "decode_tok_s": round(r["decode_tok_s"], 1),
        "dtype": str(model.dtype).removeprefix("torch."),
    }


def main(argv: list[str] | None = None, prog: str = "qwen3vl speed") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    roof = sub.add_parser("roofline", help="bytes read per decode step and the bandwidth limit in tokens/s")
    roof.add_argument(
        "--model", default="Qwen/Qwen3-VL-30B-A3B-Instruct", help="config, folder, Hub id or tiny"
    )
    roof.add_argument("--gpus", default="H200-141GB", help="a GPU profile from data/hardware.json, or cpu")
    roof.add_argument("--batch", type=ascii_int, default=1)
    roof.add_argument("--context", type=ascii_int, default=4096, help="tokens in each row's KV cache")
    bench = sub.add_parser("bench", help="measure decode on the bench-size random MoE (CPU)")
    bench.add_argument("--experts", default="grouped_mm", help="eager, grouped_mm or batched_mm")
    bench.add_argument("--attn", default="sdpa", help="sdpa or eager (flash attention needs CUDA)")
    bench.add_argument("--batch", type=ascii_int, default=1)
    bench.add_argument("--tokens", type=ascii_int, default=12, help="new tokens per row (at least 3)")
    bench.add_argument("--threads", type=ascii_int, default=2)
    for p in (roof, bench):
        p.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        if args.command == "roofline":
            if not 1 <= args.batch <= 4096:
                raise WorkbookError(f"--batch {args.batch}: give a batch between 1 and 4096")
            if not 0 <= args.context <= 10_000_000:
                raise WorkbookError(f"--context {args.context}: give a token count between 0 and 10,000,000")
            result = _roofline(args)
        else:
            from helpers.infer.speed import validate_request

            validate_request(args.experts, args.attn, args.batch, device="cpu")
            if not 3 <= args.tokens <= 4096:
                raise WorkbookError(f"--tokens {args.tokens}: give between 3 and 4096 new tokens")
            result = _bench(args)
    except WorkbookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(pd.Series(result, dtype=object).to_string())
    return 0
