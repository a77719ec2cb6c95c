"""Offload really runs; claim e's real error; quantisation coverage measured with Transformers' quantisers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from helpers.core.configs import real_config_path
from helpers.load.anatomy import read_anatomy
from helpers.load.loading import load_strict
from helpers.load.offload import offload_run, offload_sweep
from helpers.load.quantisation import coverage_table, quantisation_coverage

TIGHT = {"device_map": "auto", "max_memory": {"cpu": "20MB"}}


def test_moe_disk_offload_needs_a_folder_dense_does_not(tiny_moe, tiny_dense, tmp_path):
    with pytest.raises(ValueError, match="offload_folder") as err:
        load_strict(str(tiny_moe), **TIGHT)
    assert not isinstance(err.value, OSError)  # claim e says IOError: it is not
    dense, report = load_strict(str(tiny_dense), **TIGHT)
    assert report.is_clean and "disk" in dense.hf_device_map.values()
    moe, report = load_strict(str(tiny_moe), offload_folder=str(tmp_path / "off"), **TIGHT)
    assert report.is_clean and any((tmp_path / "off").iterdir())  # the converted experts were re-saved there


def test_offload_run_places_bytes_and_decodes(tiny_moe):
    total = read_anatomy(tiny_moe).total_bytes
    with tempfile.TemporaryDirectory() as tmp:
        run = offload_run(str(tiny_moe), int(total * 0.6), Path(tmp) / "off", new_tokens=3, repeats=1)
    assert run.new_tokens == 3 and run.tokens_per_s > 0
    assert run.offloaded_fraction > 0.2 and run.bytes_by_device.get(run.offload_device, 0) > 0
    assert 0 <= sum(run.bytes_by_device.values()) - total < 4096  # weights + a few rotary buffers
    before = set(Path(tempfile.gettempdir()).glob("offload-*"))
    runs = offload_sweep(str(tiny_moe), [1.0, 0.6], new_tokens=2, passes=1)
    assert runs[0].offloaded_fraction == 0.0 and runs[1].offloaded_fraction > 0
    assert set(Path(tempfile.gettempdir()).glob("offload-*")) == before  # offload folders removed


def test_bitsandbytes_skips_fused_experts_fp8_converts_them():
    rows = {r.method: r for r in quantisation_coverage(real_config_path("Qwen/Qwen3-VL-30B-A3B-Instruct"))}
    bnb = rows["bitsandbytes 4-bit"]
    import torch.nn as nn

    from helpers.estimate.census import meta_model

    model = meta_model(real_config_path("Qwen/Qwen3-VL-30B-A3B-Instruct"), "bfloat16")
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n != "lm_head"]
    # every nn.Linear but the output head becomes Linear4bit, and nothing else is converted
    assert bnb.converted_modules == {"Linear4bit": len(linears)} and len(linears) > 48 * 4
    assert bnb.converted_fraction < 0.1 and bnb.kept["Qwen3VLMoeTextExperts"] > 0.9 * bnb.total_bytes
    fp8 = rows["fp8 (fine-grained)"]
    assert fp8.converted_modules.get("FP8Experts") == 48 and fp8.converted_fraction > 0.9
    for r in rows.values():  # converted + kept account for every byte
        assert r.converted_bytes + sum(r.kept.values()) == r.total_bytes
    assert fp8.weights_bytes() < 0.6 * fp8.total_bytes < bnb.weights_bytes()
    table = coverage_table(list(rows.values()))
    assert "bitsandbytes 8-bit" in table["method"].tolist()
    assert table.set_index("method").loc["fp8 (fine-grained)", "converted (%)"] > 90


def test_fp8_stays_fp8_only_from_compute_capability_8_9():
    from helpers.load.quantisation import fp8_stays_fp8

    assert fp8_stays_fp8((9, 0)) and fp8_stays_fp8((8, 9))
    assert not fp8_stays_fp8((8, 0)) and not fp8_stays_fp8((7, 5))


def test_decision_guide_per_profile():
    from helpers.core.configs import real_config_path
    from helpers.load.quantisation import decision_guide

    config = real_config_path("Qwen/Qwen3-VL-30B-A3B-Instruct")
    rows = {
        r["profile"]: r
        for r in decision_guide(
            config, bnb4_weights_bytes=20 * 2**30, profiles=["1xT4-16GB", "1xH200-141GB", "1xH100-80GB"]
        )
    }
    assert rows["1xH200-141GB"]["bf16"] and rows["1xH200-141GB"]["advice"].startswith("bf16")
    assert not rows["1xT4-16GB"]["bf16"] and rows["1xT4-16GB"]["advice"].startswith(
        "offload: bf16 (fp8 is dequantised"
    )
    assert rows["1xH100-80GB"]["fp8"]  # compute capability 9.0 keeps FP8
