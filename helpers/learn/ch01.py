"""Exercises of chapter 01 (memory estimation): new images, new models, new dtypes, priced by the estimator.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("01")]
    ['01.1', '01.2', '01.3', '01.4']
"""

from __future__ import annotations

from .judges import number
from .registry import exercise

NB = "01 · Memory estimation"
GIB = 2**30


@exercise(
    "01.1",
    "How many visual tokens does a 1920×1080 screenshot cost with `max_pixels = 1,003,520`?",
    f"{NB}, section 2 'Images become tokens'",
    number(),
    "The image is scaled down to fit 1,003,520 px, each side rounded to a multiple of 32, and every 32×32 "
    "block is one token: {reference}. `visual_tokens(1920, 1080, max_pixels=1_003_520)`.",
)
def _screenshot_tokens() -> int:
    from helpers.estimate.vision_tokens import visual_tokens

    return visual_tokens(1920, 1080, max_pixels=1_003_520)


@exercise(
    "01.2",
    "How many GiB of KV cache does Qwen3-VL-32B-Instruct need in bf16 for a batch of 4 sequences of "
    "65,536 tokens each (within 1%)?",
    f"{NB}, section 3 'Memory against context length' (the KV-cache term)",
    number(rel_tol=0.01),
    "KV bytes per token = 2 (K, V) × layers × KV heads × head_dim × 2 bytes, from text_config; × 65,536 × 4 "
    "= {reference} GiB. `kv_bytes_per_token('Qwen3-VL-32B-Instruct') * 65_536 * 4 / 2**30`.",
)
def _kv_32b() -> float:
    from helpers.estimate.memory import kv_bytes_per_token

    return kv_bytes_per_token("Qwen3-VL-32B-Instruct", "bfloat16") * 65_536 * 4 / GIB


@exercise(
    "01.3",
    "How many GiB do the weights of Qwen3-VL-235B-A22B-Instruct take in fp8 (the census's convention: "
    "projections in fp8 with block scales, the rest in bf16), within 1%?",
    f"{NB}, section 1 'Census of the family, on the meta device'",
    number(rel_tol=0.01),
    "The census counts every parameter of the real class on the meta device and prices each component: "
    "{reference} GiB. `census('Qwen3-VL-235B-A22B-Instruct').weights_bytes('fp8') / 2**30`. MoE *total* "
    "parameters decide memory, not the 22B active ones.",
)
def _weights_235b_fp8() -> float:
    from helpers.estimate.census import census

    return census("Qwen3-VL-235B-A22B-Instruct").weights_bytes("fp8") / GIB


@exercise(
    "01.4",
    "Predict the peak GPU memory, in GiB (within 2%), of Qwen3-VL-8B-Instruct in bf16 answering about two A4 "
    "scans (2480×3508 px each, `max_pixels = 1,048,576`) with 8,192 text tokens, batch 1, on CUDA.",
    f"{NB}, section 4 'A calculator'",
    number(rel_tol=0.02),
    "`estimate_peak_memory('Qwen3-VL-8B-Instruct', context_tokens=8192, images=[(2480, 3508)] * 2, "
    "max_pixels=1_048_576, device='cuda').peak_bytes / 2**30` = {reference} GiB: weights + KV cache + "
    "activations + overhead.",
)
def _peak_8b() -> float:
    from helpers.estimate.memory import estimate_peak_memory

    est = estimate_peak_memory(
        "Qwen3-VL-8B-Instruct",
        context_tokens=8192,
        images=[(2480, 3508)] * 2,
        max_pixels=1_048_576,
        device="cuda",
    )
    return est.peak_bytes / GIB
