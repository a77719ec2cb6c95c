"""Chapter 05's helpers: the roofline arithmetic, backend validation, the step clock, the router count,
padding, the estimator's backend terms, the recommendation table and `qwen3vl speed`'s bad-input path."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time

import pytest
import torch

from helpers.core.errors import WorkbookError
from helpers.core.paths import ROOT
from helpers.estimate.census import census
from helpers.estimate.memory import decoder_activation_bytes, estimate_peak_memory
from helpers.infer.roofline import (
    decode_bytes_per_step,
    expected_distinct_experts,
    gpu_bandwidths,
    roofline_tokens_per_s,
)
from helpers.infer.speed import bench_config, validate_request

M30 = "Qwen/Qwen3-VL-30B-A3B-Instruct"


def test_expected_distinct_experts_matches_a_simulation():
    assert expected_distinct_experts(128, 8, 1) == pytest.approx(8.0)
    rng = random.Random(0)
    for batch in (2, 8, 32):
        sims = [len({e for _ in range(batch) for e in rng.sample(range(128), 8)}) for _ in range(2000)]
        assert expected_distinct_experts(128, 8, batch) == pytest.approx(sum(sims) / len(sims), rel=0.02)
    assert expected_distinct_experts(128, 8, 1000) == pytest.approx(128, abs=1e-6)
    with pytest.raises(WorkbookError):
        expected_distinct_experts(128, 0, 4)


def test_decode_bytes_count_top_k_experts_and_kv():
    c = census(M30)
    experts = c.bytes_by_component("bfloat16")["experts"]
    one = decode_bytes_per_step(M30, batch=1, context_tokens=0)
    assert one.expert_bytes == pytest.approx(experts * 8 / 128)
    assert one.kv_bytes == 0
    with_kv = decode_bytes_per_step(M30, batch=1, context_tokens=1000)
    assert with_kv.kv_bytes == 98304 * 1000  # 2 x 48 layers x 4 kv heads x 128 x 2 bytes per token
    sixteen = decode_bytes_per_step(M30, batch=16, context_tokens=0)
    assert sixteen.expert_bytes == pytest.approx(experts * expected_distinct_experts(128, 8, 16) / 128)
    assert decode_bytes_per_step("tiny-dense").expert_bytes == 0.0
    # tied embeddings (the 2B): the output projection reads the whole embedding table
    two_b = decode_bytes_per_step("Qwen/Qwen3-VL-2B-Instruct", context_tokens=0)
    assert two_b.shared_bytes >= census("Qwen/Qwen3-VL-2B-Instruct").bytes_by_component()["embed_tokens"]


def test_roofline_is_bandwidth_over_bytes():
    step = decode_bytes_per_step(M30, batch=4, context_tokens=2048)
    assert roofline_tokens_per_s(M30, 1e12, 4, 2048) == pytest.approx(4 * 1e12 / step.total_bytes)
    assert roofline_tokens_per_s(M30, 2e12, 4, 2048) == pytest.approx(
        2 * roofline_tokens_per_s(M30, 1e12, 4, 2048)
    )
    with pytest.raises(WorkbookError):
        roofline_tokens_per_s(M30, 0)


def test_every_gpu_profile_has_a_sourced_bandwidth():
    from helpers.core.hardware import load_profiles

    bw = gpu_bandwidths()
    gpus = load_profiles()["gpus"]
    assert set(bw) == set(gpus)
    for name, card in gpus.items():
        assert "datasheet" in card["bandwidth_source"] or "specifications" in card["bandwidth_source"]
        assert 100e9 < bw[name] < 10e12
    assert bw["H200-141GB"] > bw["H100-80GB"] > bw["A100-80GB"] > bw["T4-16GB"]


def test_bench_config_keeps_experts_and_avoids_square_shapes():
    t = bench_config()["text_config"]
    assert (t["num_experts"], t["num_experts_per_tok"]) == (128, 8)
    assert 2 * t["moe_intermediate_size"] != t["hidden_size"] != t["moe_intermediate_size"]


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"experts": "grouped"}, "eager, grouped_mm, batched_mm"),
        ({"attn": "flash_attention_2"}, "use sdpa or eager"),
        ({"attn": "flash"}, "use one of sdpa"),
        ({"batch": 0}, "between 1 and"),
        ({"batch": 10_000}, "between 1 and"),
        ({"max_pixels": 10}, "pixel budget between"),
    ],
)
def test_bad_requests_say_what_to_use(kwargs, says):
    with pytest.raises(WorkbookError, match=says):
        validate_request(device="cpu", **kwargs)


def test_good_request_passes():
    validate_request("batched_mm", "sdpa", 8, 1 << 20, "cpu")


def test_cli_refuses_bad_backend_in_one_line_before_loading():
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "helpers", "speed", "bench", "--experts", "fast"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "grouped_mm" in lines[0], out.stderr
    assert time.perf_counter() - t < 60


def test_cli_roofline_json():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers",
            "speed",
            "roofline",
            "--gpus",
            "H200-141GB",
            "--batch",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["roofline_tok_s"] == pytest.approx(roofline_tokens_per_s(M30, 4800e9, 1, 4096), rel=1e-3)


def test_estimator_experts_terms():
    cfg = bench_config()
    t = cfg["text_config"]
    N, k, H, I_ = 3000, t["num_experts_per_tok"], t["hidden_size"], t["moe_intermediate_size"]
    grouped = decoder_activation_bytes(cfg, N, 1, 2, experts="grouped_mm")
    batched = decoder_activation_bytes(cfg, N, 1, 2, experts="batched_mm")
    assert batched - grouped == N * k * 3 * H * I_ * 2
    a = estimate_peak_memory(cfg, context_tokens=512, batch=2)
    s = estimate_peak_memory(
        cfg, context_tokens=512, batch=2, cache_implementation="static", max_cache_len=2048
    )
    assert s.kv_cache_bytes == a.kv_cache_bytes * 4
    with pytest.raises(WorkbookError, match="grouped_mm"):
        estimate_peak_memory(cfg, experts_implementation="fast")


def test_recommendations_follow_capability_and_memory():
    from helpers.infer.recommend import recommendations

    measured = {
        "best_experts": "batched_mm",
        "best_attn": "eager",
        "compile_breakeven_tokens": 50,
        "host_bandwidth": 1e10,
    }
    rows = {r["hardware"]: r for r in recommendations(M30, {**measured, "ram_bytes": 256 * 2**30})}
    # batched_mm gathers N*k expert matrices in prefill: a 4K prompt + one page needs hundreds of GiB,
    # so a T4 (no grouped GEMM) and a 256 GiB CPU fall back to eager; with 4 TiB the measured best fits
    batched = estimate_peak_memory(
        M30,
        context_tokens=4096,
        images=[(2480, 3508)],
        max_pixels=1 << 20,
        experts_implementation="batched_mm",
    )
    assert batched.peak_bytes > 256 * 2**30
    assert rows["T4-16GB"]["experts"] == "eager" and rows["H200-141GB"]["experts"] == "grouped_mm"
    assert rows["T4-16GB"]["gpus"] >= 4 and rows["H200-141GB"]["gpus"] == 1
    assert rows["H200-141GB"]["batch"] >= rows["A100-80GB"]["batch"] >= 1
    assert rows["this CPU"]["experts"] == "eager" and rows["this CPU"]["compile"] == "yes"
    big = recommendations(M30, {**measured, "ram_bytes": 4096 * 2**30})[-1]
    assert big["experts"] == "batched_mm" and big["batch"] >= 1
    assert rows["H200-141GB"]["roofline_tok_s_b1"] == pytest.approx(
        roofline_tokens_per_s(M30, 4.8e12), rel=1e-3
    )


@pytest.fixture(scope="module")
def tiny():
    from helpers.core.fixtures import build_model, build_processor

    torch.manual_seed(0)
    return build_model("tiny-moe").float(), build_processor()


def test_timed_generate_gives_generate_tokens(tiny):
    from helpers.core.chat import prepare_inputs
    from helpers.infer.speed import timed_generate

    model, processor = tiny
    inputs = prepare_inputs(processor, [], "Hello there.")
    r = timed_generate(model, inputs, 5)
    with torch.inference_mode():
        plain = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert r["tokens"] == plain[:, inputs["input_ids"].shape[1] :].tolist()
    assert r["decode_tok_s"] > 0 and r["prefill_s"] > 0 and math.isfinite(r["prefill_tok_s"])


def test_router_count_is_top_k_at_batch_one(tiny):
    from helpers.core.chat import _apply_template, chat_messages
    from helpers.infer.batching import measured_distinct_experts

    model, processor = tiny
    one = measured_distinct_experts(model, _apply_template(processor, chat_messages([], "Hi"), {}), 4)
    assert one["mean_distinct"] == one["top_k"] == 2
    four = _apply_template(processor, [chat_messages([], f"Say {w}") for w in "abcd"], {"padding": True})
    many = measured_distinct_experts(model, four, 4)
    assert 2 <= many["mean_distinct"] <= 4 and many["batch"] == 4


def test_left_padding_matches_one_by_one_and_right_warns(tiny):
    from PIL import Image

    from helpers.infer.batching import padding_comparison

    model, processor = tiny
    img = Image.new("RGB", (320, 240), (10, 200, 30))
    reqs = [([img], "Hi."), ([img], "Describe everything in this image in detail, please."), ([], "OK")]
    r = padding_comparison(model, processor, reqs, new_tokens=4)
    assert r["left_identical"]
    assert r["warnings"] and "right-padding" in r["warnings"][0]
    assert len(set(r["prompt_lengths"])) == 3


def test_with_roofline_uses_the_dtype_and_gives_the_prefill_floor():
    from helpers.infer.roofline import prefill_floor_s, with_roofline

    cfg = bench_config(layers=2)
    row = {"batch": 2, "decode_tok_s": 50.0, "prefill_tok_s": 400.0, "prompt_tokens": 16}
    bf16, fp32 = (with_roofline([row], cfg, 1e10, 64, dtype)[0] for dtype in ("bfloat16", "float32"))
    # float32 weights are twice the bytes: the roofline falls (not exactly half: the KV cache is the same)
    assert 0.45 < fp32["roofline_tok_s"] / bf16["roofline_tok_s"] < 0.6
    assert fp32["roofline_fraction"] == pytest.approx(50.0 / fp32["roofline_tok_s"])
    floor = prefill_floor_s(cfg, 1e10, 32, dtype="float32")
    assert fp32["prefill_floor_fraction"] == pytest.approx(floor / (32 / 400.0))
    decode_only = with_roofline([{"batch": 1, "decode_tok_s": 1.0}], cfg, 1e10, 64)[0]
    assert "prefill_floor_fraction" not in decode_only
