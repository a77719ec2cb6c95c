"""Exercises of chapter 02 (sharded loading and device maps): plan the 30B and the 235B on new hardware.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("02")]
    ['02.1', '02.2', '02.3']
"""

from __future__ import annotations

import functools
from typing import Any

from .judges import number
from .registry import Verdict, exercise

NB = "02 · Sharded loading and device maps"
GIB = 2**30
MOE_30B = "Qwen3-VL-30B-A3B-Instruct"
RESERVE = 4 * GIB  # what 02.1 asks to keep free on every GPU


@functools.lru_cache(maxsize=2)
def _meta(config: str) -> Any:
    from helpers.estimate.census import meta_model

    return meta_model(config, "bfloat16")


def _fits_with_reserve(answer: Any, reference: dict[Any, int]) -> Verdict:
    """02.1's judge: GPU keys 0 and 1 only, each budget at most usable − 4 GiB, and accelerate's plan with
    those budgets puts every weight on the two GPUs (nothing on cpu or disk)."""
    from helpers.core.errors import WorkbookError
    from helpers.core.hardware import parse_gpus
    from helpers.estimate.placement import bytes_per_device, device_key, to_bytes
    from helpers.load.device_maps import plan_device_map

    if not isinstance(answer, dict) or not answer:
        return Verdict(False, "give a max_memory dict such as {0: '30GiB', 1: '30GiB'}")
    try:
        budgets = {device_key(k): to_bytes(v) for k, v in answer.items()}
    except (ValueError, TypeError) as err:
        return Verdict(False, f"a value is not a size accelerate understands ({err})")
    if set(budgets) != {0, 1}:
        return Verdict(
            False, "name the two GPUs, 0 and 1, and nothing else (no 'cpu': it must all fit on GPU)"
        )
    limit = parse_gpus("2xL40S-48GB").usable_gpu_bytes() - RESERVE
    over = [d for d, b in budgets.items() if b > limit * 1.001]
    if over:
        return Verdict(False, f"GPU {over} would not keep 4 GiB free beside the runtime overhead")
    try:
        plan = plan_device_map(_meta(MOE_30B), "auto", budgets, gpu_count=2)
    except WorkbookError as err:
        return Verdict(False, str(err))
    spill = {d: b for d, b in bytes_per_device(_meta(MOE_30B), plan).items() if d in ("cpu", "disk")}
    if spill:
        return Verdict(False, f"with these budgets {sum(spill.values()) / GIB:.1f} GiB go to {sorted(spill)}")
    return Verdict(True)


@exercise(
    "02.1",
    "Write a `max_memory` dict that lets Qwen3-VL-30B-A3B-Instruct (bf16) load entirely on 2×L40S-48GB while "
    "leaving 4 GiB per GPU for activations, beyond the runtime overhead of data/hardware.json.",
    f"{NB}, section 3 'Device maps for the 30B on real hardware profiles'",
    _fits_with_reserve,
    "Each L40S gives `usable_gpu_bytes()` (its memory × usable_fraction − the runtime overhead, both from "
    "data/hardware.json); keep 4 GiB of it: "
    "{reference}, which is `parse_gpus('2xL40S-48GB').max_memory(reserve_bytes=4 * 2**30, cpu=False)`. "
    "accelerate then places every weight on the two GPUs.",
    answer_form="a max_memory dict",
)
def _max_memory_2xl40s() -> dict[Any, int]:
    from helpers.core.hardware import parse_gpus

    return parse_gpus("2xL40S-48GB").max_memory(reserve_bytes=RESERVE, cpu=False)


@exercise(
    "02.2",
    "With `device_map='sequential'` on 2×A100-40GB (the chapter's hardware budgets), which decoder layer of "
    "the 30B-A3B (bf16) is the first to land on GPU 1? Answer with its index.",
    f"{NB}, section 3 (the strategies compared block by block)",
    number(),
    "'sequential' fills GPU 0 up to its budget before using GPU 1; layer {reference} is the first on GPU 1. "
    "`plan_for_hardware(meta, parse_gpus('2xA100-40GB'), 'sequential')` + `expand_to_blocks`.",
    answer_form="a layer index",
)
def _first_layer_on_gpu1() -> int:
    from helpers.core.hardware import parse_gpus
    from helpers.load.device_maps import expand_to_blocks, plan_for_hardware

    meta = _meta(MOE_30B)
    plan = plan_for_hardware(meta, parse_gpus("2xA100-40GB"), "sequential")
    for name, _, dev in expand_to_blocks(meta, plan.device_map):
        if dev == 1 and ".layers." in name:
            return int(name.rsplit(".", 1)[1])
    raise RuntimeError("no decoder layer on GPU 1")


@exercise(
    "02.3",
    "A device map may not split a decoder layer. How many GiB is the largest unsplittable module of "
    "Qwen3-VL-235B-A22B-Instruct in bf16 (within 1%)? No GPU can hold less than that.",
    f"{NB}, section 2 'The real 30B-A3B layout, derived on the meta device'",
    number(rel_tol=0.01),
    "`largest_no_split_layer(meta_model('Qwen3-VL-235B-A22B-Instruct', 'bfloat16'))` finds a decoder layer "
    "of "
    "{reference} GiB, nearly all of it the fused experts.",
)
def _largest_layer_235b() -> float:
    from helpers.load.device_maps import largest_no_split_layer

    return largest_no_split_layer(_meta("Qwen3-VL-235B-A22B-Instruct"))[1] / GIB
