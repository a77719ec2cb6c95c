"""Checkpoint anatomy from headers only, and the derived 30B release layout."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers.core.configs import real_config_path
from helpers.estimate.census import meta_model
from helpers.load.anatomy import AnatomyError, read_anatomy, release_anatomy, release_transposed_keys
from helpers.load.loading import load_strict

CONFIG_30B = real_config_path("Qwen/Qwen3-VL-30B-A3B-Instruct")


@pytest.fixture(scope="module")
def model_30b():
    return meta_model(CONFIG_30B, "bfloat16")


def test_tiny_anatomy_matches_index_and_file_sizes(tiny_moe):
    a = read_anatomy(tiny_moe)
    index = json.loads((tiny_moe / "model.safetensors.index.json").read_text())["weight_map"]
    assert sorted(t.name for t in a.tensors) == sorted(index)
    for row in a.shard_rows():  # data bytes = file size - 8-byte length - JSON header
        path = tiny_moe / row["shard"]
        header_len = struct.unpack("<Q", path.read_bytes()[:8])[0]
        assert row["bytes"] == path.stat().st_size - 8 - header_len
    table = a.table()
    assert table["holds"].str.contains("layers 0-1").any()
    assert table["shard"].iloc[-1] == "total" and table["tensors"].iloc[-1] == len(a.tensors)
    assert a.figure().axes


def test_damaged_or_inconsistent_checkpoints_give_one_line(tmp_path):
    save_file({"a": torch.zeros(4, 4), "b": torch.ones(3)}, str(tmp_path / "model-1.safetensors"))
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}})
    )
    with pytest.raises(AnatomyError, match="model-2.safetensors, which is missing"):
        read_anatomy(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-1.safetensors", "b": "model-1.safetensors"}})
    )
    assert read_anatomy(tmp_path).n_tensors == 2
    data = (tmp_path / "model-1.safetensors").read_bytes()
    (tmp_path / "model-1.safetensors").write_bytes(data[:20])  # a truncated download
    with pytest.raises(AnatomyError, match="damaged"):
        read_anatomy(tmp_path)
    with pytest.raises(AnatomyError, match="no model.safetensors"):
        read_anatomy(tmp_path / "nothing")


def test_release_anatomy_of_the_30b(model_30b):
    r = release_anatomy(CONFIG_30B, model=model_30b)
    assert r.n_tensors == 882 and len(r.shards) == 13  # the release's counts
    assert r.total_bytes == sum(p.numel() * 2 for p in model_30b.parameters())
    assert r.expert_fraction() > 0.9
    in_memory = dict(model_30b.named_parameters())
    name = "model.language_model.layers.0.mlp.experts.gate_up_proj"
    stored = next(t.shape for t in r.tensors if t.name == name)
    e, two_i, h = in_memory[name].shape
    assert stored == (e, h, two_i)  # [E, H, 2I] as released
    assert release_transposed_keys(model_30b) == ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]


def test_release_layout_is_what_the_loader_converts(tiny_moe, tmp_path):
    """Rewrite the tiny checkpoint's experts in the release layout: it must load clean with the same
    weights."""
    dst = tmp_path / "release-layout"
    shutil.copytree(tiny_moe, dst)
    for shard in dst.glob("*.safetensors"):
        tensors = load_file(str(shard))
        if any(".mlp.experts." in k for k in tensors):
            tensors = {
                k: (v.transpose(1, 2).contiguous() if ".mlp.experts." in k else v) for k, v in tensors.items()
            }
            save_file(tensors, str(shard), metadata={"format": "pt"})
    original, _ = load_strict(str(tiny_moe))
    converted, report = load_strict(str(dst))
    assert report.is_clean
    a, b = dict(original.named_parameters()), dict(converted.named_parameters())
    assert all(torch.equal(a[k], b[k]) for k in a)
