"""Estimator accuracy on CPU: predicted vs measured process memory, per term, for real-architecture variants.

Each case is a random-weight Qwen3-VL (MoE or dense) built with the real classes and saved with
`save_pretrained`. A fresh subprocess per case imports the stack and builds the processor; its RSS then
is the measured baseline, passed to the estimator as `overhead_bytes` (no calibrated constant). VmHWM is
reset there, so the measured peak is this job's own high-water mark (load, then prepare inputs, then
`generate`, the order of helpers.infer.generate). Weights: the bytes of the unique parameter/buffer storages
after every parameter was read (the 1% target), with the process RSS growth from load printed for
reference. "job" = peak - baseline - weights (inputs, KV, activations, loader and allocator transients).
The estimate for the same job comes from `helpers.estimate.memory.estimate_peak_memory(device="cpu")`.

Run: ``python benchmarks/estimator_accuracy.py [--quick]``; last line ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.core.fixtures import grown_config  # noqa: E402
from helpers.core.paths import CACHE_DIR  # noqa: E402
from helpers.core.units import MIB, fmt_mib  # noqa: E402

# name -> (base fixture, text overrides, vision overrides, mrope_section or None: derived from head_dim);
# the vision tower's out_hidden_size follows the text hidden_size (helpers.core.fixtures.grown_config)
VARIANTS = {
    "tiny-moe": ("tiny-moe", {}, {}, None),
    "tiny-dense": ("tiny-dense", {}, {}, None),
    "moe-120M": (
        "tiny-moe",
        {
            "hidden_size": 256,
            "num_hidden_layers": 4,
            "num_experts": 16,
            "num_experts_per_tok": 4,
            "moe_intermediate_size": 320,
            "num_attention_heads": 8,
            "num_key_value_heads": 2,
            "head_dim": 32,
        },
        {
            "depth": 4,
            "hidden_size": 256,
            "intermediate_size": 640,
            "num_heads": 4,
            "deepstack_visual_indexes": [1, 2, 3],
        },
        [8, 4, 4],
    ),
    "dense-1B": (
        "tiny-dense",
        {
            "hidden_size": 1536,
            "num_hidden_layers": 8,
            "intermediate_size": 4608,
            "num_attention_heads": 12,
            "num_key_value_heads": 4,
            "head_dim": 128,
        },
        {
            "depth": 8,
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_heads": 12,
            "deepstack_visual_indexes": [2, 4, 6],
        },
        None,
    ),
    "moe-1B": (
        "tiny-moe",
        {
            "hidden_size": 1024,
            "num_hidden_layers": 6,
            "num_experts": 32,
            "num_experts_per_tok": 4,
            "moe_intermediate_size": 384,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
            "head_dim": 64,
        },
        {
            "depth": 6,
            "hidden_size": 512,
            "intermediate_size": 2048,
            "num_heads": 8,
            "deepstack_visual_indexes": [1, 3, 5],
        },
        None,
    ),
}
# (variant, text words, images as (w, h) list, new tokens[, batch, experts_implementation]); the default is
# batch 1 with grouped_mm (Transformers' default); the cases after the first block cover the other backends.
# batched_mm gathers N x top-k expert matrices in prefill (1.2 GiB for moe-1B at 130 tokens): keep them short.
FULL = [
    ("tiny-moe", 200, [], 8),
    ("tiny-moe", 1500, [(2480, 3508)] * 2, 8),
    ("tiny-dense", 800, [(1024, 768)] * 4, 8),
    ("moe-120M", 3000, [(1240, 1754)], 8),
    ("moe-1B", 300, [], 8),
    ("moe-1B", 2000, [(1240, 1754)] * 2, 8),
    ("dense-1B", 500, [(640, 480)], 8),
    ("dense-1B", 1500, [(1240, 1754)] * 2, 8),
    ("moe-1B", 100, [], 8, 1, "batched_mm"),
    ("moe-120M", 200, [(320, 240)], 8, 2, "batched_mm"),
    ("moe-120M", 1000, [(1024, 768)], 8, 4, "eager"),
    ("moe-1B", 500, [(640, 480)], 8, 8, "grouped_mm"),
]
QUICK = [
    ("tiny-moe", 200, [], 4),
    ("tiny-moe", 800, [(1240, 1754)] * 2, 4),
    ("moe-120M", 1500, [(1024, 768)], 4),
    ("moe-120M", 150, [], 4, 2, "batched_mm"),
    ("tiny-moe", 300, [(640, 480)], 4, 2, "eager"),
]


def variant_config(name: str) -> dict:
    base, text, vision, mrope = VARIANTS[name]
    return grown_config(base, text, vision, mrope)


def checkpoint(name: str) -> Path:
    """Build (once) and save the variant in a subprocess (its memory is freed after); returns its folder."""
    folder = CACHE_DIR / "bench" / name
    stamp = folder / "variant.json"
    cfg = variant_config(name)
    if stamp.exists() and json.loads(stamp.read_text()) == cfg:
        return folder
    code = (
        "import json, sys\n"
        "from helpers.core.fixtures import save_random_checkpoint\n"
        "cfg = json.loads(sys.argv[1])\n"
        "save_random_checkpoint(\n"
        "    cfg, sys.argv[2], max_shard_size='500MB', seed=0, files={'variant.json': sys.argv[1]}\n"
        ")\n"
    )
    subprocess.run([sys.executable, "-c", code, json.dumps(cfg), str(folder)], check=True, cwd=ROOT)
    return folder


def run_case(
    name: str, words: int, images: list, new: int, batch: int = 1, experts: str = "grouped_mm"
) -> dict:
    from helpers.estimate.census import census
    from helpers.estimate.memory_check import compare_job

    cfg = variant_config(name)
    row = compare_job(str(checkpoint(name)), words, [tuple(s) for s in images], new, cfg, batch, experts)
    label = f"{name} {len(images)}img {row['prompt']}tok" + (
        f" B{batch} {experts}" if (batch, experts) != (1, "grouped_mm") else ""
    )
    return {
        **row,
        "case": label,
        "params": census(cfg).total_params,
        "batch": batch,
        "experts": experts if cfg["model_type"] == "qwen3_vl_moe" else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="five small cases (< 3 min)")
    args = ap.parse_args()
    start = time.perf_counter()
    rows = [run_case(*case) for case in (QUICK if args.quick else FULL)]
    print(
        f"{'case':44s} {'params':>7s} {'baseline':>8s} {'peak in':>8s} | {'term':7s} {'pred MiB':>9s} "
        f"{'meas MiB':>9s} {'err':>7s}"
    )
    for r in rows:
        for i, k in enumerate(("weights", "job", "peak")):
            e = r["err"][k]
            head = (
                f"{r['case']:44s} {r['params'] / 1e6:6.1f}M {r['base'] / MIB:8.0f} {r['phase']:>8s}"
                if i == 0
                else " " * 71
            )
            print(
                f"{head} | {k:7s} {r['predicted'][k] / MIB:9.1f} {r['measured'][k] / MIB:9.1f} "
                f"{'' if e is None else f'{100 * e:+6.1f}%'}"
            )
        print(
            f"{'':71s}   (load RSS growth {fmt_mib(r['load_rss'])} vs storage "
            f"{r['measured']['weights'] / MIB:.1f}; inputs {fmt_mib(r['inputs'])}, predicted "
            f"{r['pred_inputs'] / MIB:.1f})"
        )
    w = [abs(r["err"]["weights"]) for r in rows]
    p = [abs(r["err"]["peak"]) for r in rows]
    result = {
        "cases": len(rows),
        "median_abs_weights_err": round(statistics.median(w), 4),
        "max_abs_weights_err": round(max(w), 4),
        "median_abs_peak_err": round(statistics.median(p), 4),
        "max_abs_peak_err": round(max(p), 4),
        "visual_tokens_equal": all(r["visual_ok"] for r in rows),
        "experts_backends": sorted({r["experts"] for r in rows if r["experts"]}),
        "max_batch": max(r["batch"] for r in rows),
        "weights_within_1pct": all(x <= 0.01 for x in w if x is not None),
        "peak_within_10pct": all(x <= 0.10 for x in p),
        "seconds": round(time.perf_counter() - start, 1),
        "quick": args.quick,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
