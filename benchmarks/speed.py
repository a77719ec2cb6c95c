"""Decode speed levers on a bench-size MoE (128 experts, top-8, widths / 32), measured against the roofline.

One process, ratios measured interleaved and reported as medians (the machine is shared): experts backends x
attention at batch 1, and experts backends at batch 8 (decode tokens/s, greedy tokens compared in float32),
batch sizes with the best batch-8 backend, left vs right padding with images against one-by-one greedy
runs, static cache with and without Transformers' own `torch.compile` path, the image processor's share of
one A4 page's time to the first token (on the tiny fixture), and the best batch-1 decode as a fraction of
this machine's roofline (measured copy bandwidth / bytes read per step from the census). The dtype is
`bench_dtype` (float32 on a CPU without bf16 instructions). Why widths / 32: see helpers/infer/speed.py; the
full run also reports the backends at widths / 8, where an expert's GEMMs cost as much as their dispatch.
Weights are RANDOM: tokens are noise, speeds are real.

Targets here: best backend >= 1.5x eager at batch 1; batch 8 >= 3x batch 1 throughput; left padding
identical to one-by-one runs. Batch 8 vs 1 compares the best backend at each.
Run: ``python benchmarks/speed.py [--quick]``; last line ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

A4 = (2480, 3508)


def page(size: tuple[int, int], seed: int = 0):
    """A noise page of `size` (deterministic)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and batch sizes (< 3 min)")
    args = ap.parse_args()
    import torch

    from helpers.core.fixtures import build_model, build_processor, random_model
    from helpers.infer.batching import batch_sweep, padding_comparison
    from helpers.infer.prefill import budget_sweep
    from helpers.infer.roofline import measure_host_bandwidth, roofline_tokens_per_s
    from helpers.infer.speed import (
        BENCH_WIDTH_DIVISOR,
        available_backends,
        bench_config,
        bench_dtype,
        bench_inputs,
        can_compile,
        compare_backends,
        compile_payoff,
        greedy_tokens_by_backend,
    )

    start = time.perf_counter()
    torch.set_num_threads(1)  # 2 shared cores: one thread gives steadier ratios
    rounds = 5 if args.quick else 9
    cfg = bench_config()
    dtype = bench_dtype("cpu")
    dtype_name = str(dtype).removeprefix("torch.")
    model = random_model(cfg)
    inputs1, inputs8 = bench_inputs(1, 48), bench_inputs(8, 48)
    experts = available_backends("cpu")["experts"]

    # 1. greedy tokens per backend, in float32 (bf16 near-ties of random weights flip argmaxes)
    model.to(dtype)
    same = greedy_tokens_by_backend(model, inputs1, experts)
    identical = all(v == same[experts[0]] for v in same.values())

    # 2. backends at batch 1 (both attentions) and 8, interleaved
    rows = compare_backends(model, inputs1, experts, ["sdpa", "eager"], new_tokens=12, rounds=rounds)
    rows8 = compare_backends(model, inputs8, experts, ["sdpa"], new_tokens=12, rounds=rounds)
    sdpa = {r["experts"]: r for r in rows if r["attn"] == "sdpa"}
    best = max(sdpa.values(), key=lambda r: r["decode_tok_s"])
    best8 = max(rows8, key=lambda r: r["decode_tok_s"])
    for r in rows + rows8:
        print(
            f"batch {r['batch']} {r['experts']:11s} {r['attn']:6s} decode {r['decode_tok_s']:7.1f} tok/s"
            f"  x{r['vs_eager']:.2f} eager"
        )
    # the same comparison with widths / 8: an expert's GEMMs cost as much as their dispatch there
    wide = {}
    if not args.quick:
        model8 = random_model(bench_config(divisor=8)).to(dtype)
        wide = {
            r["experts"]: r["vs_eager"]
            for r in compare_backends(
                model8,
                bench_inputs(1, 48, vocab=model8.config.text_config.vocab_size),
                experts,
                new_tokens=12,
                rounds=rounds,
            )
        }
        del model8

    # 3. batch sizes with the best backend at batch 8
    model.set_experts_implementation(best8["experts"])
    batches = [1, 8] if args.quick else [1, 2, 4, 8, 16]

    sweep = batch_sweep(
        model, lambda b: bench_inputs(b, 48), batches, new_tokens=10, rounds=2 if args.quick else 3
    )
    by_b = {r["batch"]: r for r in sweep}
    for r in sweep:
        print(f"batch {r['batch']:3d}  decode {r['decode_tok_s']:7.1f} tok/s  x{r['vs_batch1']:.2f} batch 1")

    # 4. left vs right padding with images: the tiny fixture (full vocabulary, images), float32
    tiny, processor = build_model("tiny-moe").float(), build_processor()
    img = page((320, 240))
    prompt = "Describe the picture and list every object you can see in it, one per line."
    requests = [([img], "Hi."), ([page((256, 320), 1)], prompt), ([img], "What is written here, exactly?")]
    pad = padding_comparison(tiny, processor, requests, new_tokens=6)
    print(
        f"left padding identical {pad['left_identical']}, right {pad['right_identical']}: "
        f"{pad['warnings'][:1]}"
    )

    # 5. static cache, with and without torch.compile (Transformers' generate compiles the decode step);
    # on a CPU inductor compiles C++ (about half a minute for the bench model); null without a compiler
    comp = {"compile_s": None, "compile_speedup": None, "breakeven_tokens": None}
    if can_compile("cpu"):
        model.set_experts_implementation(best["experts"])  # batch 1: the batch-1 best
        comp = compile_payoff(model, inputs1, new_tokens=12, rounds=2)
        print(
            f"compile {comp['compile_s']:.1f} s, x{comp['compile_speedup']:.2f}, "
            f"after {comp['breakeven_tokens']}"
        )

    # 6. the processor's share of one A4 page's time to first token (tiny fixture, bf16, max_pixels 1024^2:
    # uncapped, the vision tower's CPU attention over 34,320 patches needs tens of GiB; the real model's
    # A4 prefill is measured by benchmarks/gpu_check.py)
    a4 = budget_sweep(
        tiny.to(torch.bfloat16), processor, page(A4), [1 << 20], repeats=1 if args.quick else 2
    )[0]

    # 7. roofline of this machine for the bench model
    bandwidth = measure_host_bandwidth()
    context = int(inputs1["input_ids"].shape[1]) + 12
    roof = roofline_tokens_per_s(cfg, bandwidth, batch=1, context_tokens=context, dtype=dtype_name)
    result = {
        "eager_decode_tok_s": round(sdpa["eager"]["decode_tok_s"], 2),
        "grouped_mm_vs_eager": round(sdpa["grouped_mm"]["vs_eager"], 3) if "grouped_mm" in sdpa else None,
        "batched_mm_vs_eager": round(sdpa["batched_mm"]["vs_eager"], 3),
        "best_backend": best["experts"],
        "best_vs_eager": round(best["vs_eager"], 3),
        "attn_eager_vs_sdpa": round(
            next(r for r in rows if r["attn"] == "eager" and r["experts"] == best["experts"])["decode_tok_s"]
            / best["decode_tok_s"],
            3,
        ),
        "backends_token_identical_fp32": identical,
        "dtype": dtype_name,
        "width_divisor": BENCH_WIDTH_DIVISOR,
        "best_backend_batch8": best8["experts"],
        "batch8_vs_eager": {r["experts"]: round(r["vs_eager"], 3) for r in rows8},
        "best_vs_eager_widths_div8": round(max(wide.values()), 3) if wide else None,
        "batch8_vs_batch1_throughput": round(best8["decode_tok_s"] / best["decode_tok_s"], 3),
        "batch8_vs_batch1_same_backend": round(by_b[8]["vs_batch1"], 3),
        "batch_tok_s": {b: round(r["decode_tok_s"], 1) for b, r in by_b.items()},
        "left_padding_identical": pad["left_identical"],
        "right_padding_identical": pad["right_identical"],
        "right_padding_warning": bool(pad["warnings"]),
        "compile_s": None if comp["compile_s"] is None else round(comp["compile_s"], 1),
        "compile_speedup": None if comp["compile_speedup"] is None else round(comp["compile_speedup"], 3),
        "compile_breakeven_tokens": comp["breakeven_tokens"],
        "host_bandwidth_GBps": round(bandwidth / 1e9, 2),
        "roofline_tok_s": round(roof, 1),
        "roofline_fraction_best": round(best["decode_tok_s"] / roof, 4),
        "a4_visual_tokens": a4["visual_tokens"],
        "processor_share_a4": round(a4["processor_share"], 3),
        "a4_max_pixels": 1 << 20,
        "targets_met": bool(
            best["vs_eager"] >= 1.5
            and best8["decode_tok_s"] / best["decode_tok_s"] >= 3
            and pad["left_identical"]
        ),
        "seconds": round(time.perf_counter() - start, 1),
        "quick": args.quick,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
