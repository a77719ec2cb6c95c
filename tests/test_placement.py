"""Placement plans come from accelerate's planner and add up to the census."""

from __future__ import annotations

from helpers.core.paths import CONFIGS_DIR
from helpers.estimate.census import census
from helpers.estimate.memory import estimate_peak_memory
from helpers.estimate.placement import plan_placement

THIRTY = CONFIGS_DIR / "Qwen3-VL-30B-A3B-Instruct.json"


def test_bytes_add_up_and_balance_over_gpus():
    plan = plan_placement(THIRTY, "2xA100-80GB")
    extra = sum(plan.bytes_by_device.values()) - census(THIRTY).weights_bytes("bfloat16")
    assert 0 <= extra < 4096  # accelerate also counts the rotary inv_freq buffers (a few hundred bytes)
    assert set(plan.bytes_by_device) == {"0", "1"} and plan.fits and plan.transfer_bytes_per_token == 0
    assert min(plan.bytes_by_device.values()) > 0.4 * max(plan.bytes_by_device.values())


def test_long_context_on_one_gpu_offloads_to_cpu():
    est = estimate_peak_memory(THIRTY, context_tokens=131072, images=[(2480, 3508)])
    plan = plan_placement(THIRTY, "1xA100-80GB", est)
    assert not plan.fits and plan.bytes_by_device["cpu"] > 0
    assert plan.transfer_bytes_per_token == plan.bytes_by_device["cpu"]
    assert 0 < plan.transfer_active_bytes_per_token < plan.transfer_bytes_per_token
    # the reservation for KV + activations is what pushed layers off the GPU
    assert plan.bytes_by_device["0"] + plan.reserve_per_gpu_bytes <= 80 * 2**30
    # decoder layers are never split (no-split modules)
    assert not any(".layers.0." in k for k in plan.device_map)


def test_int4_fits_where_bf16_does_not():
    bf16 = plan_placement(THIRTY, "1xL40S-48GB", dtype="bfloat16")
    int4 = plan_placement(THIRTY, "1xL40S-48GB", estimate_peak_memory(THIRTY, "int4"))
    assert not bf16.fits and int4.fits
