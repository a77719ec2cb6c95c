"""The deployment planner: KV arithmetic, sharding, refusals, real engine logs, launch commands, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.core.configs import load_config_dict
from helpers.serve.commands import launch_command, scale_out_plans
from helpers.serve.logs import compare_logs, load_logs
from helpers.serve.plan import GIB, PlanError, kv_bytes_per_token, plan_serving

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


def test_engine_logs_are_real_records_with_sources():
    logs = load_logs()
    assert len(logs) >= 5
    assert len({log["gpu"] for log in logs}) >= 2 and {"vllm", "sglang"} <= {log["engine"] for log in logs}
    for log in logs:
        assert log["source"].startswith("https://github.com/") and log["quoted"]
        assert f"{log['kv_cache_tokens']:,}" in " ".join(log["quoted"]) or str(
            log["kv_cache_tokens"]
        ) in " ".join(log["quoted"])


def test_planner_reproduces_the_logs_within_tolerance():
    table = compare_logs()
    assert table["kv_arith_ok"].all(), table[["log", "kv_arith_error_pct"]]
    planned = table[table["plan_ok"].notna()]
    assert len(planned) >= 3
    misses = planned[planned["plan_ok"] == False]  # noqa: E712
    assert (misses["why_not"].str.len() > 40).all()  # every miss carries its reason
    assert len(misses) <= 1
    assert (planned[planned["plan_ok"] == True]["plan_error_pct"].abs() <= 10).all()  # noqa: E712


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
    bad = _cli("plan-serving", "--model", A3B, "--gpus", "8xH100-80GB", "--tp", "3", "--dp", "2")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
