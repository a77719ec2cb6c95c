"""Exercises of chapter 03 (offload and quantisation): this machine's placement, FP8 per GPU, offload cost.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("03")]
    ['03.1', '03.2', '03.3', '03.4']
"""

from __future__ import annotations

import functools
from typing import Any

from .judges import device, mapping, number
from .registry import exercise

NB = "03 · Offload and quantisation"
GIB = 2**30
MOE_30B = "Qwen3-VL-30B-A3B-Instruct"
FP8_GPUS = ("RTX4090-24GB", "A100-40GB", "H100-80GB", "T4-16GB")


@exercise(
    "03.1",
    "On THIS machine, with `device_map='auto'` and no `max_memory`, on which device does the tiny model's "
    "`lm_head` land? Answer 'cpu', 'disk' or a GPU number. The check plans it on your machine.",
    f"{NB}, section 1 '`device_map=\"auto\"` with no GPU'",
    device(),
    "Transformers' own planner (`plan_device_map(meta_model('tiny'), 'auto')`) puts lm_head on {reference} "
    "here: with no GPU everything goes to the CPU; with one, a model this small fits on GPU 0.",
    answer_form="a device",
)
def _lm_head_device() -> Any:
    from helpers.estimate.census import meta_model
    from helpers.load.device_maps import expand_to_blocks, plan_device_map

    meta = meta_model("tiny", "bfloat16")
    plan = plan_device_map(meta, "auto")
    return next(dev for name, _, dev in expand_to_blocks(meta, plan) if name == "lm_head")


@exercise(
    "03.2",
    "An FP8 checkpoint is loaded on each of these GPUs: "
    + ", ".join(FP8_GPUS)
    + ". On which does Transformers "
    "keep it in FP8 (True) rather than silently dequantise it to bf16 (False)? Answer as a dict GPU -> bool.",
    f"{NB}, section 4 'Quantisation: which bytes does each method really convert?' and section 5",
    mapping(),
    "Transformers' FP8 quantiser keeps FP8 only from compute capability 8.9 up (data/hardware.json gives "
    "each "
    "card's): {reference}. `fp8_stays_fp8(parse_gpus(gpu).compute_capability)` runs its own check.",
    answer_form="a dict",
)
def _fp8_per_gpu() -> dict[str, bool]:
    from helpers.core.hardware import parse_gpus
    from helpers.load.quantisation import fp8_stays_fp8

    return {gpu: fp8_stays_fp8(parse_gpus(gpu).compute_capability) for gpu in FP8_GPUS}


@functools.lru_cache(maxsize=1)
def _plan_a100_32k() -> dict[str, Any]:
    from helpers.estimate.memory import estimate_peak_memory
    from helpers.estimate.placement import plan_placement

    job = estimate_peak_memory(MOE_30B, context_tokens=32_768)
    return plan_placement(MOE_30B, "1xA100-40GB", estimate=job).summary()


@exercise(
    "03.3",
    "Qwen3-VL-30B-A3B in bf16 on 1×A100-40GB, keeping room for a 32,768-token job: how many GiB of weights "
    "must be offloaded to the CPU (within 2%)?",
    f"{NB}, section 5 'Decision guide per hardware profile'",
    number(rel_tol=0.02),
    "`plan_placement(MOE_30B, '1xA100-40GB', estimate=estimate_peak_memory(MOE_30B, context_tokens=32_768))` "
    "reserves the job's KV cache and activations on the GPU; accelerate sends {reference} GiB to the CPU.",
)
def _offloaded_gib() -> float:
    return _plan_a100_32k()["cpu_bytes"] / GIB


@exercise(
    "03.4",
    "For the same plan (03.3), how many seconds per decoded token does moving the offloaded weights over "
    "PCIe cost at the card's nominal bandwidth (within 5%)?",
    f"{NB}, section 2 'Offload, really run: decode speed against the share offloaded'",
    number(rel_tol=0.05),
    "accelerate's hooks move every offloaded byte to the GPU for each token: CPU bytes / PCIe bandwidth = "
    "{reference} s per token (the plan's `seconds_per_token_transfer`), before any compute.",
)
def _seconds_per_token() -> float:
    return float(_plan_a100_32k()["seconds_per_token_transfer"])
