"""Exercises of chapter 05 (fast inference): the roofline, the experts a batch touches, the experts backends'
memory, applied to batches, contexts and models the chapter does not print.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("05")]
    ['05.1', '05.2', '05.3', '05.4', '05.5']
"""

from __future__ import annotations

import functools

from .judges import number, one_of
from .registry import exercise

NB = "05 · Fast inference"
GIB = 2**30
MOE_30B = "Qwen3-VL-30B-A3B-Instruct"
NEAR_BEST = 0.75  # measured on a shared machine: a backend within 25% of the fastest counts as fastest


@exercise(
    "05.1",
    "Under uniform top-k routing, what is the SMALLEST batch (tokens per decode step) at which the 30B-A3B "
    "is expected to touch at least 90% of its experts in every layer?",
    f"{NB}, section 1 'The limit first' (distinct experts per layer)",
    number(),
    "A token misses a given expert with probability 1 − k/E, so B tokens touch E·(1 − (1 − 8/128)^B) "
    "experts in expectation; that first reaches 0.9 × 128 at B = {reference}. "
    "`expected_distinct_experts(128, 8, B)` for growing B. Past that batch the MoE reads almost all of its "
    "weights every step, like a dense model of its total size.",
)
def _batch_for_90pct_experts() -> int:
    from helpers.core.model import model_config
    from helpers.infer.roofline import expected_distinct_experts

    t = model_config(MOE_30B)["text_config"]
    experts, k = t["num_experts"], t["num_experts_per_tok"]
    batch = 1
    while expected_distinct_experts(experts, k, batch) < 0.9 * experts:
        batch += 1
    return batch


@exercise(
    "05.2",
    "At batch 16, from what context length (tokens per row, the smallest whole number, within 1%) does the "
    "KV cache the 30B-A3B reads per decode step (bf16) weigh MORE than the weights that step reads?",
    f"{NB}, section 1 'The limit first' (bytes per decode step)",
    number(rel_tol=0.01),
    "The weight read at batch 16 is fixed (shared weights + the ~82 experts per layer 16 tokens touch); the "
    "KV read grows by 16 × KV bytes per token for every token of context. `decode_bytes_per_step(M30, 16, 0)."
    "weight_bytes / decode_bytes_per_step(M30, 16, 1).kv_bytes` crosses at {reference} tokens: beyond that, "
    "long contexts, not the experts, set the decode speed.",
)
def _kv_overtakes_weights_b16() -> int:
    from helpers.infer.roofline import decode_bytes_per_step

    weights = decode_bytes_per_step(MOE_30B, 16, context_tokens=0).weight_bytes
    kv_per_context_token = decode_bytes_per_step(MOE_30B, 16, context_tokens=1).kv_bytes
    return int(weights // kv_per_context_token) + 1


@exercise(
    "05.3",
    "For a 32,768-token prefill of the 30B-A3B in bf16 (batch 1, CUDA), how many GiB MORE peak memory does "
    "`experts_implementation='batched_mm'` need than `'grouped_mm'` (within 2%)?",
    f"{NB}, section 2 'Experts and attention backends, measured' (and 01's calculator, which knows the "
    "backends)",
    number(rel_tol=0.02),
    "batched_mm gathers a copy of each routed expert's weights for every token (tokens × top-k gate-up and "
    "down matrices) before one batched matmul; grouped_mm runs the tokens of each expert as one group and "
    "copies no weights. `estimate_peak_memory(M30, context_tokens=32768, experts_implementation=…)`: "
    "{reference} GiB more, which is why batched_mm suits decode (few tokens) and never a long prefill.",
)
def _batched_mm_extra_gib() -> float:
    from helpers.estimate.memory import estimate_peak_memory

    peaks = {
        impl: estimate_peak_memory(MOE_30B, context_tokens=32_768, experts_implementation=impl).peak_bytes
        for impl in ("grouped_mm", "batched_mm")
    }
    return (peaks["batched_mm"] - peaks["grouped_mm"]) / GIB


@exercise(
    "05.4",
    "On an H100-80GB at batch 8 with 8,192 tokens of context per row, what is the roofline decode tok/s of "
    "Qwen3-VL-235B-A22B divided by that of the dense Qwen3-VL-32B (bf16, within 1%)?",
    f"{NB}, section 1 'The limit first' (the roofline of the family)",
    number(rel_tol=0.01),
    "`roofline_table({{'235B': …, '32B': …}}, {{'H100': gpu_bandwidths()['H100-80GB']}}, batch=8, "
    "context_tokens=8192)`: the ratio is {reference}. 22B active parameters per token do not make the 235B "
    "faster: 8 tokens touch ~52 of its 128 experts per layer, so a step reads far more than 22B weights, "
    "while the 32B reads its 32B once whatever the batch.",
)
def _roofline_235b_over_32b() -> float:
    from helpers.infer.roofline import gpu_bandwidths, roofline_table

    rows = roofline_table(
        {"235B": "Qwen3-VL-235B-A22B-Instruct", "32B": "Qwen3-VL-32B-Instruct"},
        {"H100": gpu_bandwidths()["H100-80GB"]},
        batch=8,
        context_tokens=8192,
    )
    tok_s = {r["model"]: r["roofline_tok_s"] for r in rows}
    return tok_s["235B"] / tok_s["32B"]


@exercise(
    "05.5",
    "On THIS machine, which experts backend decodes fastest at batch 16 on the bench model "
    "(`random_model(bench_config(layers=2))`, bf16, 16 prompt tokens per row)? The check measures every "
    "backend your machine offers; any within 25% of the fastest counts, since timings are noisy.",
    f"{NB}, section 2 'Experts and attention backends, measured'",
    one_of("more than 25% slower than the fastest here, or not an experts backend this machine offers"),
    "Measured here just now with `compare_backends(bench, bench_inputs(16, 16), available_backends()"
    "['experts'], new_tokens=4)`: {reference} (fastest first, within 25%). At batch 16 the eager loop "
    "visits ~82 experts per layer one by one; grouped_mm and batched_mm each run one kernel per layer.",
    answer_form="an experts backend name",
)
@functools.lru_cache(maxsize=1)  # measured once per session: three tries do not re-time the machine
def _fastest_experts_backends_b16() -> list[str]:
    import torch

    from helpers.core.fixtures import random_model
    from helpers.infer.speed import available_backends, bench_config, bench_inputs, compare_backends

    device = "cuda" if torch.cuda.is_available() else "cpu"
    bench = random_model(bench_config(layers=2)).to(device=device, dtype=torch.bfloat16)
    names = available_backends(device)["experts"]
    rows = compare_backends(bench, bench_inputs(16, 16, device=device), names, new_tokens=4, rounds=3)
    speed = {r["experts"]: r["decode_tok_s"] for r in rows}
    best = max(speed.values())
    return sorted((n for n in speed if speed[n] >= NEAR_BEST * best), key=speed.__getitem__, reverse=True)
