"""The deployment planner: KV arithmetic, sharding, refusals, real engine logs, launch commands, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from helpers.core.configs import load_config_dict
from helpers.serve.commands import launch_command, scale_out_plans
from helpers.serve.logs import compare_logs, load_logs
from helpers.serve.plan import (
    GIB,
    GPU_TOTAL_GIB,
    NON_TORCH_GIB,
    NON_TORCH_SOURCE,
    SAMPLER_BYTES_PER_LOGIT,
    PlanError,
    activation_bytes,
    kv_bytes_per_token,
    measured_tp_non_torch_gib,
    plan_serving,
    vllm_batch_defaults,
    vllm_non_torch_gib,
)
from helpers.serve.profile_run import encoder_profile, largest_image_tokens, video_item, vllm_video_profile

A3B = "data/configs/Qwen3-VL-30B-A3B-Instruct.json"
BIG = "data/configs/Qwen3-VL-235B-A22B-Instruct.json"


def test_kv_bytes_per_token_follows_heads_tp_and_dtype():
    cfg = load_config_dict(A3B)  # 48 layers x 4 KV heads x 128 x (K+V) x bf16
    assert kv_bytes_per_token(cfg) == 48 * 4 * 128 * 2 * 2 == 98304
    assert kv_bytes_per_token(cfg, tp=2) == 49152
    assert kv_bytes_per_token(cfg, tp=8) == kv_bytes_per_token(cfg, tp=4)  # KV heads replicate past 4
    assert kv_bytes_per_token(cfg, kv_cache_dtype="fp8") == 49152
    assert kv_bytes_per_token(cfg, pp=2) == 49152


def test_plan_is_consistent_arithmetic():
    p = plan_serving(A3B, "vllm", "1xH100-80GB", max_model_len=8192)
    assert p.kv_cache_tokens % 16 == 0
    assert p.kv_cache_tokens * p.kv_bytes_per_token <= p.kv_cache_bytes_per_gpu
    parts = p.weights_bytes_per_gpu + max(p.activation_bytes, p.encoder_bytes) + p.non_torch_bytes
    assert p.kv_cache_bytes_per_gpu == p.budget_bytes - parts
    assert p.max_concurrency == round(p.kv_cache_tokens / 8192, 2)


def test_tp_and_ep_shard_the_weights():
    one = plan_serving(BIG, "vllm", "8xH100-80GB", dtype="fp8", max_model_len=8192)
    ep = plan_serving(BIG, "vllm", "8xH100-80GB", dtype="fp8", max_model_len=8192, ep=True)
    dp_ep = plan_serving(BIG, "vllm", "16xH100-80GB", tp=8, dp=2, ep=True, max_model_len=8192, dtype="fp8")
    assert abs(one.weights_bytes_per_gpu - ep.weights_bytes_per_gpu) < GIB // 100  # EP 8 = TP 8 for experts
    assert dp_ep.weights_bytes_per_gpu < ep.weights_bytes_per_gpu * 0.6  # experts over 16 ranks
    pp = plan_serving(BIG, "vllm", "16xH100-80GB", tp=8, pp=2, max_model_len=8192)
    assert pp.kv_bytes_per_token == kv_bytes_per_token(load_config_dict(BIG), 8, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(gpus="3xH100-80GB"), "does not divide the 32 attention heads"),
        (dict(gpus="8xH100-80GB", tp=2, dp=3), "= 6 GPUs"),
        (dict(gpus="6xH100-80GB", tp=2, dp=3, ep=True), "not divisible by the EP size 6"),
        (dict(gpus="1xRTX4090-24GB"), "weights need .* GiB per GPU"),
        (dict(gpus="1xH100-80GB", max_model_len=262144, memory_fraction=0.85), "lower --max-model-len to"),
        (dict(gpus="1xB300"), "unknown GPU"),
    ],
)
def test_impossible_layouts_are_refused_in_one_line(kwargs, message):
    with pytest.raises(PlanError, match=message) as info:
        plan_serving(A3B, "vllm", **kwargs)
    assert "\n" not in str(info.value) and ":" in str(info.value)


def test_dense_model_refuses_expert_parallel():
    with pytest.raises(PlanError, match="drop --ep"):
        plan_serving("data/configs/Qwen3-VL-8B-Instruct.json", gpus="2xH100-80GB", ep=True)


def test_vllm_profile_run_follows_the_engine_defaults():
    # arg_utils.get_batch_defaults: big batches on >= 70 GiB cards except the A100 (vllm PR 17885)
    assert vllm_batch_defaults("H100-80GB", int(79.19 * GIB)) == (8192, 1024)
    assert vllm_batch_defaults("A100-80GB", int(79.15 * GIB)) == (2048, 256)
    assert vllm_batch_defaults("A10-24GB", int(22.07 * GIB)) == (2048, 256)
    cfg = load_config_dict(A3B)
    sampler = 1024 * cfg["text_config"]["vocab_size"] * SAMPLER_BYTES_PER_LOGIT["flashinfer"]
    forward_only = activation_bytes(cfg, 1, 8192, 0)
    assert activation_bytes(cfg, 1, 8192, 1024) >= sampler > forward_only  # steps in turn: the larger one
    h100 = plan_serving(A3B, "vllm", "1xH100-80GB", max_model_len=8192, text_only=True)
    a100 = plan_serving(A3B, "vllm", "1xA100-80GB", max_model_len=8192, text_only=True)
    assert h100.activation_bytes >= sampler and a100.activation_bytes < sampler / 2


def test_the_sampler_path_sets_the_profile_peak():
    # llm-d measured 5.56 GiB of profile activations for Qwen3-0.6B at 1024 sequences on an H100 with the
    # PyTorch sort path (config_explorer/empirical-vllm-memory-results.md); FlashInfer's path holds far less
    qwen3_06b = {"hidden_size": 1024, "intermediate_size": 3072, "vocab_size": 151936}
    torch_path = activation_bytes(qwen3_06b, 1, 8192, 1024, sampler="torch")
    assert torch_path / GIB == pytest.approx(5.56, rel=0.05)
    assert activation_bytes(qwen3_06b, 1, 8192, 1024) < torch_path / 2  # FlashInfer, the default
    fast = plan_serving(A3B, "vllm", "1xH100-80GB", max_model_len=8192, text_only=True)
    slow = plan_serving(A3B, "vllm", "1xH100-80GB", max_model_len=8192, text_only=True, sampler="torch")
    assert slow.kv_cache_tokens < fast.kv_cache_tokens
    with pytest.raises(PlanError, match="sampler"):
        plan_serving(A3B, "vllm", "1xH100-80GB", max_model_len=8192, sampler="multinomial")


def test_engine_logs_are_real_records_with_sources():
    logs = load_logs()
    assert len(logs) >= 8
    assert len({log["gpu"] for log in logs}) >= 2 and {"vllm", "sglang"} <= {log["engine"] for log in logs}
    for log in logs:
        assert log["source"].startswith("https://github.com/") and log["quoted"]
        assert f"{log['kv_cache_tokens']:,}" in " ".join(log["quoted"]) or str(
            log["kv_cache_tokens"]
        ) in " ".join(log["quoted"])
        assert log.get("sampler", "flashinfer") in SAMPLER_BYTES_PER_LOGIT
        assert "sampler" not in log or len(log["sampler_note"]) > 80  # a deduced sampler says how
        if "available_kv_gib" in log and log["engine"] == "vllm":  # the figure is quoted, not derived
            quoted = " ".join(log["quoted"])  # vLLM prints GiB; LMCache's table labels the same GiB "GB"
            assert any(f"{log['available_kv_gib']} {unit}" in quoted for unit in ("GiB", "GB"))
        elif "available_kv_gib" in log:  # SGLang prints K and V sizes (GiB, labelled GB)
            sizes = re.findall(r"[KV] size: ([0-9.]+) GB", " ".join(log["quoted"]))
            assert len(sizes) == 2 and sum(map(float, sizes)) == pytest.approx(log["available_kv_gib"])


def test_planner_reproduces_the_logs_within_tolerance():
    logs = {log["id"]: log for log in load_logs()}
    table = compare_logs().set_index("log")
    with_kv = [i for i, log in logs.items() if "available_kv_gib" in log]
    assert len(with_kv) >= 5 and table.loc[with_kv, "kv_arith_ok"].all(), table["kv_arith_error_pct"]
    known = [i for i, log in logs.items() if log["gpu"] in GPU_TOTAL_GIB and not log.get("weights_differ")]
    assert table.loc[known, "plan_ok"].notna().all() and len(known) >= 4
    assert not any(logs[i].get("known_gap") for i in known)  # no excused row among the full plans
    assert table.loc[known, "plan_ok"].all(), table.loc[known, ["plan_error_pct", "tolerance_tokens"]]
    assert len(known) >= 7
    assert len({logs[i]["gpu"] for i in known}) >= 3  # H100, A100 and A10 reproduced from the card alone
    assert "qwen3vl-1684-qwen3-vl-235b-fp8-8xA100" in known  # with vLLM 0.11's video profile
    assert "vllm-21348-qwen3-235b-fp8-4xH100-vllm" in known  # only with the measured TP non-torch term
    skipped = [i for i, log in logs.items() if log.get("weights_differ")]
    assert skipped and table.loc[skipped, "plan_tokens"].isna().all()


def test_tp_non_torch_term_is_the_median_of_independent_measurements():
    source = json.loads(NON_TORCH_SOURCE.read_text(encoding="utf-8"))
    tp_rows = sorted(r["non_torch_gib"] for r in source["rows"] if r["tp"] > 1)
    assert len(tp_rows) >= 10 and measured_tp_non_torch_gib() == tp_rows[len(tp_rows) // 2]
    assert all(r["non_torch_gib"] < 0.5 for r in source["rows"] if r["tp"] == 1)  # TP's term, not the card's
    assert source["source"] not in {log["source"] for log in load_logs()}  # apart from the checked rows
    assert vllm_non_torch_gib("H100-80GB", 1) == NON_TORCH_GIB
    assert vllm_non_torch_gib("A10-24GB", 4) == NON_TORCH_GIB  # PCIe: few NCCL channels, no custom all-reduce
    assert vllm_non_torch_gib("A100-80GB", 8) == measured_tp_non_torch_gib() > 2 * NON_TORCH_GIB
    one = plan_serving(BIG, "vllm", "4xH100-80GB", dtype="fp8", max_model_len=40960, text_only=True)
    assert one.non_torch_bytes == int(measured_tp_non_torch_gib() * GIB)
    sglang = plan_serving(BIG, "sglang", "4xH100-80GB", dtype="fp8", max_model_len=40960, text_only=True)
    assert sglang.non_torch_bytes != one.non_torch_bytes  # SGLang keeps its own context figure


def test_launch_commands_carry_the_plan():
    p = plan_serving(A3B, "vllm", "4xH100-80GB", ep=True, max_model_len=32768, kv_cache_dtype="fp8")
    cmd = launch_command(p, "Qwen/Qwen3-VL-30B-A3B-Instruct")
    for flag in (
        "--tensor-parallel-size 4",
        "--enable-expert-parallel",
        "--max-model-len 32768",
        "--gpu-memory-utilization 0.9",
        "--kv-cache-dtype fp8",
        "--mm-encoder-tp-mode data",
    ):
        assert flag in cmd
    s = plan_serving(A3B, "sglang", "2xH100-80GB", max_model_len=8192, memory_fraction=0.85)
    assert "--mem-fraction-static 0.85" in launch_command(s, "m") and "--tp 2" in launch_command(s, "m")
    rows = scale_out_plans(BIG, max_model_len=32768)
    assert [r["gpus"] for r in rows] == [8, 16, 16]
    assert "--pipeline-parallel-size 2" in rows[1]["command"] and "ray" in rows[1]["command"]
    sg = scale_out_plans(BIG, engine="sglang", max_model_len=32768)
    assert "--nnodes 2" in sg[1]["command"] and "--node-rank 0" in sg[1]["command"]


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "helpers", *args], capture_output=True, text=True, timeout=120
    )


def test_plan_serving_cli_json_and_refusal():
    out = _cli(
        "plan-serving",
        "--model",
        A3B,
        "--engine",
        "vllm",
        "--gpus",
        "2xH100-80GB",
        "--max-model-len",
        "16384",
        "--image",
        "1280x960",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in (
        "weights_bytes_per_gpu",
        "kv_cache_bytes_per_gpu",
        "kv_cache_tokens",
        "max_concurrency",
        "command",
    ):
        assert key in data
    assert data["command"].startswith("vllm serve Qwen/Qwen3-VL-30B-A3B-Instruct")
    argv = ["plan-serving", "--model", A3B, "--gpus", "2xH100-80GB", "--max-model-len", "16384"]
    video = json.loads(_cli(*argv, "--image", "1280x960", "--video", "--json").stdout)
    assert video["profile_video"] and video["kv_cache_tokens"] < data["kv_cache_tokens"]
    assert '"video":1' in video["command"] and '"video":0' in data["command"]
    bad = _cli("plan-serving", "--model", A3B, "--gpus", "8xH100-80GB", "--tp", "3", "--dp", "2")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_vllm_video_profile_follows_the_0_11_frame_search():
    # qwen2_vl._get_max_video_frames over 4096x4096 frames: a third frame (16,200 tokens) stops the search
    # below 16,200 tokens; longer contexts reach _MAX_FRAMES_PER_VIDEO = 24,576 frames of 32x32
    assert video_item(4096, 4096, 2) == (3520, 3520, 12100)
    assert video_item(4096, 4096, 3)[2] == 16200
    assert vllm_video_profile(16199) == (12100, 151250)  # the budget QwenLM/Qwen3-VL#1622 logs
    assert vllm_video_profile(100_000) == (12288, 153600) == vllm_video_profile(262_144)
    assert largest_image_tokens() == 16384  # a 4096x4096 image, the image processor's maximum


def test_the_encoder_cache_is_padded_to_the_budget():
    cfg = load_config_dict(BIG)  # 4096 wide, 3 deep-stack levels: 4 x 4096 x 2 B per cached token
    per_token = 4 * 4096 * 2
    enc, held = encoder_profile(cfg, 2048, 100_000)
    assert held == 16384 * per_token  # the largest image fills its own budget
    assert encoder_profile(cfg, 32768, 100_000)[1] == 32768 * per_token  # max_num_batched_tokens above it
    venc, vheld = encoder_profile(cfg, 2048, 100_000, video=True)
    assert vheld == 153600 * per_token and venc < enc  # 12,288 tokens encoded, 153,600 held
    images = plan_serving(BIG, "vllm", "8xA100-80GB", ep=True, dtype="fp8", max_model_len=100_000)
    videos = plan_serving(
        BIG, "vllm", "8xA100-80GB", ep=True, dtype="fp8", max_model_len=100_000, profile_video=True
    )
    moved = images.kv_cache_bytes_per_gpu - videos.kv_cache_bytes_per_gpu
    reserve = max(images.activation_bytes, images.encoder_bytes)  # the image's encoder peak, here
    assert moved == videos.activation_bytes - reserve > 2 * GIB  # the held video budget sets the peak
    assert "'video':1" in launch_command(videos, "m").replace('"', "'")
    assert "'video':0" in launch_command(images, "m").replace('"', "'")
