"""Device maps planned with the library's planner, bad requests refused before any weight is read."""

from __future__ import annotations

import pytest
import torch

from helpers.core.configs import real_config_path
from helpers.core.hardware import parse_gpus
from helpers.estimate.census import meta_model
from helpers.load.anatomy import read_anatomy
from helpers.load.device_maps import (
    DeviceMapError,
    check_request,
    device_map_figure,
    expand_to_blocks,
    largest_no_split_layer,
    plan_device_map,
    plan_for_hardware,
)
from helpers.load.loading import load_measured

CONFIG_30B = real_config_path("Qwen/Qwen3-VL-30B-A3B-Instruct")


@pytest.fixture(scope="module")
def model_30b():
    return meta_model(CONFIG_30B, "bfloat16")


def test_plans_cover_every_byte_and_balance(model_30b):
    tensors = [*model_30b.parameters(), *model_30b.buffers()]  # accelerate sizes count buffers too
    total = sum(t.numel() * t.element_size() for t in tensors)
    bal = plan_for_hardware(model_30b, parse_gpus("2xA100-80GB"), "balanced")
    assert sum(bal.bytes_per_device.values()) == total
    assert set(bal.bytes_per_device) == {0, 1} and min(bal.bytes_per_device.values()) > 0.3 * total
    seq = plan_for_hardware(model_30b, parse_gpus("2xA100-80GB"), "sequential")
    assert set(seq.bytes_per_device) == {0}  # sequential fills GPU 0 first, and it is big enough
    small = plan_for_hardware(model_30b, parse_gpus("1xRTX4090-24GB"), "auto")
    assert small.bytes_per_device["cpu"] > small.bytes_per_device[0]  # most of 58 GiB cannot fit 24 GB


def test_balanced_low_0_keeps_gpu0_lighter_and_equals_balanced_on_one_gpu(model_30b):
    two = parse_gpus("2xA100-80GB")
    low = plan_for_hardware(model_30b, two, "balanced_low_0").bytes_per_device
    bal = plan_for_hardware(model_30b, two, "balanced").bytes_per_device
    assert low.get(0, 0) < bal[0]
    one = parse_gpus("1xA100-80GB")
    assert (
        plan_for_hardware(model_30b, one, "balanced_low_0").device_map
        == plan_for_hardware(model_30b, one, "balanced").device_map
    )


def test_hand_written_dict_and_figure(model_30b):
    hand = {
        "model.visual": 0,
        "model.language_model.embed_tokens": 0,
        "model.language_model.norm": 1,
        "lm_head": 1,
    }
    hand |= {f"model.language_model.layers.{i}": i // 24 for i in range(48)}
    plan = plan_for_hardware(model_30b, parse_gpus("2xL40S-48GB"), hand)
    assert plan.device_map == hand and set(plan.bytes_per_device) == {0, 1}
    blocks = expand_to_blocks(model_30b, hand)
    assert len(blocks) == 48 + 4 and [d for *_, d in blocks].count(1) == 24 + 2
    fig = device_map_figure(model_30b, {"hand": hand})
    assert len(fig.axes[0].patches) == len(blocks)


def test_bad_requests_are_refused_with_one_line(model_30b, tmp_path):
    layer, layer_bytes = largest_no_split_layer(model_30b)
    assert layer.startswith("model.language_model.layers.") and layer_bytes > 2**30
    cases = [
        (dict(device_map={"": "cuda:3"}, gpu_count=2), "GPU 3"),
        (dict(max_memory={0: 9 * 2**30}, gpu_count=0), "GPU 0"),
        (
            dict(max_memory={0: "1GiB", "cpu": "1GiB"}, gpu_count=1),
            "cannot hold one Qwen3VLMoeTextDecoderLayer",
        ),
        (dict(device_map="gpu"), "neither a strategy"),
        (dict(device_map={"": "tpu"}), "not a device"),
        (dict(offload_folder="/proc/offload-here"), "not writable"),
        (dict(offload_folder=tmp_path / "new" / "off", disk_bytes_needed=2**60), "GiB free"),
    ]
    for kwargs, message in cases:
        with pytest.raises(DeviceMapError, match=message) as err:
            check_request(model_30b, **kwargs)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "new").exists()  # nothing created by the check
    check_request(
        model_30b,
        device_map="auto",
        max_memory={0: "70GiB", "cpu": "100GiB"},
        gpu_count=1,
        offload_folder=tmp_path / "off",
    )  # a sound request passes
    with pytest.raises(DeviceMapError):
        plan_device_map(model_30b, "auto", {3: "10GiB"}, gpu_count=1)


def test_load_measured_reads_everything_and_checks_first(tiny_moe, tmp_path):
    model, m = load_measured(str(tiny_moe), device_map="cpu")
    assert m.report.is_clean and m.seconds > 0 and m.peak_host_bytes > 0
    assert sum(m.devices.values()) == read_anatomy(tiny_moe).total_bytes
    if not torch.cuda.is_available():
        with pytest.raises(DeviceMapError, match="GPU 5"):
            load_measured(str(tiny_moe), device_map={"": "cuda:5"})
    with pytest.raises(DeviceMapError, match="not writable"):
        load_measured(
            str(tiny_moe), device_map="auto", max_memory={"cpu": "20MB"}, offload_folder="/proc/nope"
        )


def test_load_measured_refuses_an_offload_folder_on_a_full_disk(tiny_moe, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(2**30, 2**30, 1024))  # a full disk
    with pytest.raises(DeviceMapError, match="GiB free"):
        load_measured(
            str(tiny_moe), device_map="auto", max_memory={"cpu": "20MB"}, offload_folder=tmp_path / "o"
        )
    assert not (tmp_path / "o").exists()
