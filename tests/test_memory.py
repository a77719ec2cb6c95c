"""Census, KV cache, estimate and CLI of helpers.estimate.memory, checked against independent counts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.core.configs import load_config_dict
from helpers.core.errors import WorkbookError
from helpers.core.fixtures import build_fixture
from helpers.core.model import model_config, select_model
from helpers.core.paths import CONFIGS_DIR, ROOT
from helpers.estimate.census import census, count_from_config
from helpers.estimate.cli import main
from helpers.estimate.memory import estimate_peak_memory, kv_bytes_per_token
from helpers.estimate.vision_tokens import visual_tokens
from helpers.load.anatomy import read_anatomy

CONFIGS = sorted(CONFIGS_DIR.glob("Qwen3-VL-*B-Instruct.json"))
THIRTY = CONFIGS_DIR / "Qwen3-VL-30B-A3B-Instruct.json"


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if "235B" not in p.name] + ["tiny", "tiny-dense"], ids=str
)
def test_census_equals_config_arithmetic(path):
    cfg = model_config(path)
    c = census(cfg)
    assert c.total_params == count_from_config(cfg)
    assert c.weights_bytes("bfloat16") == 2 * c.total_params
    assert c.weights_bytes("float32") == 4 * c.total_params


def test_thirty_b_tensor_count_and_active():
    c = census(THIRTY)
    assert c.n_tensors == 882
    t = load_config_dict(THIRTY)["text_config"]
    per_layer_experts = t["num_experts"] * 3 * t["hidden_size"] * t["moe_intermediate_size"]
    assert c.components["experts"] == t["num_hidden_layers"] * per_layer_experts
    assert c.active_params == c.total_params - c.components["vision"] - c.components["experts"] * (
        1 - 8 / 128
    )
    assert c.components["lm_head"] == c.components["embed_tokens"]  # not tied in the 30B


def test_quantised_sizes_keep_high_precision_parts():
    c = census(THIRTY)
    by = c.bytes_by_component("int4")
    assert by["vision"] == 2 * c.components["vision"] and by["lm_head"] == 2 * c.components["lm_head"]
    assert by["experts"] == c.components["experts"] // 2
    assert 0 < by["scales"] < 0.05 * by["experts"]
    assert c.weights_bytes("bfloat16") > c.weights_bytes("fp8") > c.weights_bytes("int4")


def test_weights_bytes_equal_saved_checkpoint():
    folder = build_fixture("tiny-moe")
    assert census("tiny").weights_bytes("bfloat16") == read_anatomy(folder).total_bytes


def test_kv_cache_formula():
    assert kv_bytes_per_token(THIRTY) == 2 * 48 * 4 * 128 * 2
    est = estimate_peak_memory(THIRTY, context_tokens=1000, images=[(2480, 3508)], batch=2)
    assert est.sequence_tokens == 1000 + visual_tokens(2480, 3508)
    assert est.kv_cache_bytes == 2 * est.sequence_tokens * kv_bytes_per_token(THIRTY)
    # each term pinned on its own (not the peak restated as the sum of the estimate's own fields)
    from helpers.estimate.memory import CUDA_OVERHEAD_BYTES, SLACK_FRACTION, decoder_activation_bytes

    one = estimate_peak_memory(THIRTY, context_tokens=1000, images=[(2480, 3508)], batch=1)
    assert est.kv_cache_bytes == 2 * one.kv_cache_bytes
    assert est.weights_bytes == one.weights_bytes == census(THIRTY).weights_bytes("bfloat16")
    vis = visual_tokens(2480, 3508)
    dec = decoder_activation_bytes(load_config_dict(THIRTY), est.sequence_tokens, 2, 2, "sdpa", vis)
    assert est.prefill_activation_bytes == max(est.vision_activation_bytes, dec)  # GPU: vision, then decoder
    assert est.activation_bytes == est.input_bytes + max(
        est.prefill_activation_bytes, est.decode_activation_bytes
    )
    slack = int(SLACK_FRACTION * (est.kv_cache_bytes + est.activation_bytes))
    assert est.overhead_bytes == CUDA_OVERHEAD_BYTES + slack
    assert est.peak_bytes - one.peak_bytes >= one.kv_cache_bytes  # a second sequence adds at least its KV
    # a longer static cache changes the KV term alone: the peak moves by exactly that KV plus its slack
    grown = estimate_peak_memory(
        THIRTY,
        context_tokens=1000,
        images=[(2480, 3508)],
        batch=1,
        cache_implementation="static",
        max_cache_len=32768,
    )
    extra = grown.kv_cache_bytes - one.kv_cache_bytes
    assert grown.kv_cache_bytes == 32768 * kv_bytes_per_token(THIRTY) and extra > 0
    assert grown.activation_bytes == one.activation_bytes and grown.weights_bytes == one.weights_bytes
    slack = grown.overhead_bytes - one.overhead_bytes
    assert abs(slack - SLACK_FRACTION * extra) <= 1
    assert grown.peak_bytes - one.peak_bytes == extra + slack


def test_estimate_grows_with_context_and_resolution():
    small = estimate_peak_memory(THIRTY, context_tokens=1024)
    big = estimate_peak_memory(THIRTY, context_tokens=65536)
    assert big.kv_cache_bytes == 64 * small.kv_cache_bytes and big.activation_bytes > small.activation_bytes
    capped = estimate_peak_memory(THIRTY, images=[(2480, 3508)], max_pixels=1 << 20)
    uncapped = estimate_peak_memory(THIRTY, images=[(2480, 3508)])
    assert uncapped.vision_activation_bytes > capped.vision_activation_bytes
    eager = estimate_peak_memory(THIRTY, context_tokens=8192, attn_implementation="eager")
    assert eager.activation_bytes > estimate_peak_memory(THIRTY, context_tokens=8192).activation_bytes


def test_cli_json_keys():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers",
            "memory",
            "--model",
            str(THIRTY),
            "--dtype",
            "bfloat16",
            "--context",
            "32768",
            "--batch",
            "1",
            "--image",
            "2480x3508",
            "--image",
            "640x480",
            "--max-pixels",
            str(1 << 22),
            "--gpus",
            "2xA100-80GB",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    d = json.loads(out.stdout)
    for key in (
        "total_params",
        "active_params",
        "weights_bytes",
        "kv_cache_bytes",
        "visual_tokens",
        "activation_bytes",
        "peak_bytes",
        "placement",
    ):
        assert key in d
    assert d["total_params"] == count_from_config(load_config_dict(THIRTY))
    assert d["visual_tokens"] == [visual_tokens(2480, 3508, max_pixels=1 << 22), visual_tokens(640, 480)]
    assert d["placement"]["gpu_bytes"] >= d["weights_bytes"] and d["placement"]["fits"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "nope.json"],
        ["--model", str(THIRTY), "--image", "2480"],
        ["--model", str(THIRTY), "--context", "-1"],
        ["--model", str(THIRTY), "--batch", "0"],
        ["--model", str(THIRTY), "--dtype", "int3"],
        ["--model", str(THIRTY), "--context", "99999999999"],
        ["--model", str(THIRTY), "--gpus", "3xZ80"],
        ["--model", str(THIRTY), "--max-pixels", "-4"],
        ["--model", str(CONFIGS_DIR / "preprocessor_config.json")],
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


def test_unknown_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(WorkbookError, match="not a Qwen3-VL type"):
        load_config_dict(tmp_path)


def test_input_tensor_bytes_equal_processor_output():
    from PIL import Image

    from helpers.core.chat import prepare_inputs
    from helpers.core.fixtures import build_processor
    from helpers.estimate.memory import input_tensor_bytes
    from helpers.estimate.vision_tokens import vision_patches

    sizes = [(1240, 1754), (640, 480)]
    inputs = prepare_inputs(build_processor(), [Image.new("RGB", s) for s in sizes], "word " * 50)
    held = sum(
        inputs[k].nelement() * inputs[k].element_size()
        for k in ("pixel_values", "input_ids", "attention_mask", "mm_token_type_ids")
    )
    patches = [vision_patches(w, h) for w, h in sizes]
    tiny = select_model("tiny", weights=False).config
    assert input_tensor_bytes(tiny, patches, int(inputs["input_ids"].shape[1])) == held


def test_cpu_estimate_counts_inputs_and_load_transient():
    cpu = estimate_peak_memory(
        "tiny", context_tokens=1000, images=[(2480, 3508)], device="cpu", overhead_bytes=0
    )
    gpu = estimate_peak_memory(
        "tiny", context_tokens=1000, images=[(2480, 3508)], device="cuda", overhead_bytes=0
    )
    assert cpu.input_bytes == gpu.input_bytes > 8580 * 4 * 1536 * 4  # fp32 pixel_values of 34,320 patches
    assert cpu.activation_bytes >= cpu.input_bytes + cpu.preprocess_bytes and gpu.preprocess_bytes == 0
    bare = estimate_peak_memory("tiny", context_tokens=16, device="cpu", overhead_bytes=0)
    assert bare.peak_bytes >= 2 * bare.weights_bytes  # mmapped file pages + materialised copies while loading


def test_cpu_load_peak_is_weights_plus_the_largest_shard(tiny_moe):
    from helpers.estimate.memory import largest_shard_bytes

    shard = largest_shard_bytes(tiny_moe)
    assert shard == max(p.stat().st_size for p in tiny_moe.glob("*.safetensors"))
    est = estimate_peak_memory(str(tiny_moe), context_tokens=16, device="cpu", overhead_bytes=0)
    bare = estimate_peak_memory(
        str(tiny_moe), context_tokens=16, device="cpu", overhead_bytes=0, shard_bytes=est.weights_bytes
    )
    assert bare.peak_bytes - est.peak_bytes >= est.weights_bytes - shard - 1024


def test_measured_job_matches_the_estimate_on_the_tiny_model(tiny_moe):
    from helpers.estimate.memory_check import compare_job

    row = compare_job(str(tiny_moe), words=50, images=[(640, 480)], new_tokens=2)
    assert row["visual_ok"] and abs(row["err"]["weights"]) < 0.001  # non-persistent buffers (rotary) aside
    assert abs(row["err"]["peak"]) < 0.10
