"""The tiny checkpoints: real architecture, real tokenizer, loadable offline, deterministic, cached."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.core import fixtures
from helpers.core.configs import tiny_config_dict
from helpers.core.fixtures import build_fixture


def _digests(folder: Path) -> dict[str, str]:
    skip = {"fixture-stamp.json"}
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.name not in skip
    }


def test_moe_fixture_is_the_real_architecture_sharded(tiny_moe):
    config = json.loads((tiny_moe / "config.json").read_text())
    assert config["architectures"] == ["Qwen3VLMoeForConditionalGeneration"]
    assert config["text_config"]["vocab_size"] == 151936
    shards = sorted(tiny_moe.glob("model-*.safetensors"))
    assert len(shards) >= 2
    index = json.loads((tiny_moe / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == {s.name for s in shards}
    for name in fixtures.PROCESSOR_FILES:
        assert (tiny_moe / name).exists(), name


def test_expert_shapes_are_not_square():
    text = tiny_config_dict("tiny-moe")["text_config"]
    hidden, inter = text["hidden_size"], text["moe_intermediate_size"]
    assert 2 * inter != hidden and inter != hidden


def test_loads_strictly_and_generates_with_an_image(tiny_moe):
    from PIL import Image
    from transformers import AutoProcessor

    from helpers.infer.generate import generate_answer
    from helpers.load.loading import load_strict

    model, report = load_strict(str(tiny_moe))
    assert report.is_clean and type(model).__name__ == "Qwen3VLMoeForConditionalGeneration"
    processor = AutoProcessor.from_pretrained(tiny_moe)
    assert type(processor).__name__ == "Qwen3VLProcessor"
    result = generate_answer(
        model, processor, [Image.new("RGB", (320, 256), "red")], "Colour?", max_new_tokens=4
    )
    assert result.new_tokens == 4
    assert result.visual_tokens == [(320 // 32) * (256 // 32)]


def test_dense_fixture_loads(tiny_dense):
    from helpers.load.loading import load_strict

    model, report = load_strict(str(tiny_dense))
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration" and report.is_clean


def test_real_tokenizer_special_ids(processor):
    tok = processor.tokenizer
    ids = {
        t: tok.convert_tokens_to_ids(t)
        for t in ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|im_end|>")
    }
    assert ids == {
        "<|vision_start|>": 151652,
        "<|vision_end|>": 151653,
        "<|image_pad|>": 151655,
        "<|im_end|>": 151645,
    }
    assert len(tok.get_vocab()) > 151643


def test_two_builds_give_identical_bytes(tmp_path):
    a = build_fixture("tiny-moe", dest=tmp_path / "a", force=True)
    b = build_fixture("tiny-moe", dest=tmp_path / "b", force=True)
    assert _digests(a) == _digests(b)


def test_build_is_reused_when_current_and_rebuilt_when_stale(tmp_path, monkeypatch):
    dest = build_fixture("tiny-dense", dest=tmp_path / "d")
    stamp = dest / "fixture-stamp.json"
    mtime = stamp.stat().st_mtime_ns
    assert build_fixture("tiny-dense", dest=dest) == dest
    assert stamp.stat().st_mtime_ns == mtime  # reused, not rebuilt
    stamp.write_text(json.dumps({"fingerprint": "stale"}))
    build_fixture("tiny-dense", dest=dest)
    assert json.loads(stamp.read_text())["fingerprint"] != "stale"


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def boom(name, seed=fixtures.SEED):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(fixtures, "build_model", boom)
    with pytest.raises(RuntimeError):
        build_fixture("tiny-moe", dest=tmp_path / "x", force=True)
    assert list(tmp_path.iterdir()) == []


def test_cli_prints_json_mapping(fixture_paths):
    out = subprocess.run(
        [sys.executable, "-m", "helpers", "fixtures", "build", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    mapping = json.loads(out.stdout.strip().splitlines()[-1])
    moe = [name for name in mapping if "moe" in name]
    assert moe and all(Path(p).is_dir() for p in mapping.values())
