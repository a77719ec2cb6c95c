"""Regression tests for issue 16 (reliability): each failed before its fix. The doctor's proof is sound
(non-finite logits and weights, duplicate keys, config contradictions), repair refuses bad destinations
and leaves nothing behind, every CLI answers bad input with one line and exit 2, and the fixtures heal."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import struct
import sys
from pathlib import Path

import pytest
import torch
from fuzz_support import png_bytes
from test_cli_fuzz import BrokenStdout

from helpers.checkpoints import RepairError, diagnose, repair
from helpers.checkpoints.verify import max_abs_diff, model_logits, nonfinite_where, reference_logits
from helpers.cli import main as cli_main
from helpers.core.fixtures import build_fixture, tiny_config_dict
from helpers.estimate.census import census
from helpers.load.loading import load_strict

INDEX = "model.safetensors.index.json"


def run(argv, capsys, stdin: bytes | None = b""):
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    if stdin is None:
        sys.stdin.close()
    try:
        rc = cli_main(argv)
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "rerun with --debug" not in err, err  # the bad input was named, not caught by the last net
    return rc, out, err


def copy_fixture(tmp_path: Path, name: str = "src") -> Path:
    dest = tmp_path / name
    shutil.copytree(build_fixture("tiny-moe"), dest, ignore=shutil.ignore_patterns("fixture-stamp.json"))
    return dest


def poke(folder: Path, tensor: str, value: bytes, index: int = 0) -> None:
    """Overwrite one bf16 element of a stored tensor with raw bytes (NaN, inf ...)."""
    for shard in folder.glob("*.safetensors"):
        raw = bytearray(shard.read_bytes())
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
        if tensor in header:
            pos = 8 + n + header[tensor]["data_offsets"][0] + 2 * index
            raw[pos : pos + 2] = value
            shard.write_bytes(bytes(raw))
            return
    raise KeyError(tensor)


# ---- 1. a sound verification ------------------------------------------------------------------------


def test_nan_logits_never_compare_equal():
    ok = {"text": torch.zeros(1, 3, 5)}
    nan = {"text": torch.full((1, 3, 5), float("nan"))}
    assert max_abs_diff(ok, nan) == float("inf")
    assert max_abs_diff(nan, nan) == float("inf")
    assert max_abs_diff(ok, {"text": torch.zeros(1, 3, 5)}) == 0.0
    assert nonfinite_where(nan) == "text[0, 0, 0] = nan"


def test_inf_in_one_embedding_column_is_found_and_never_verified(tmp_path):
    src = copy_fixture(tmp_path)
    poke(src, "model.language_model.embed_tokens.weight", b"\x80\x7f", index=7)
    report = diagnose(src)
    assert not report.healthy and report.has("nonfinite-weights"), report.table()
    assert "embed_tokens" in next(f.evidence for f in report.findings if f.code == "nonfinite-weights")
    with pytest.raises(RepairError):
        repair(src, tmp_path / "fixed", reference=build_fixture("tiny-moe"), progress=False)
    assert not (tmp_path / "fixed").exists()


def test_nan_in_q_proj_is_not_healthy_and_repair_without_reference_refuses(tmp_path):
    src = copy_fixture(tmp_path)
    poke(src, "model.language_model.layers.0.self_attn.q_proj.weight", b"\xc0\x7f", index=3)
    assert diagnose(src).has("nonfinite-weights")
    with pytest.raises(RepairError, match="nonfinite-weights"):
        repair(src, tmp_path / "fixed", progress=False)


def test_duplicate_key_repair_keeps_the_copy_the_index_names(tmp_path):
    src = copy_fixture(tmp_path)
    name = "model.language_model.layers.1.self_attn.o_proj.weight"
    index = json.loads((src / INDEX).read_text())
    shard = src / index["weight_map"][name]
    raw = shard.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    entry = json.loads(raw[8 : 8 + n])[name]
    lo, hi = entry["data_offsets"]
    values = torch.frombuffer(bytearray(raw[8 + n + lo : 8 + n + hi]), dtype=torch.bfloat16) * 3
    data = values.view(torch.uint8).numpy().tobytes()
    head = json.dumps({name: {"dtype": "BF16", "shape": entry["shape"], "data_offsets": [0, len(data)]}})
    (src / "model-extra.safetensors").write_bytes(struct.pack("<Q", len(head)) + head.encode() + data)
    index["weight_map"][name] = "model-extra.safetensors"  # the index names the SECOND copy
    (src / INDEX).write_text(json.dumps(index))
    report = diagnose(src)
    assert report.has("duplicate-tensor") and not report.healthy
    from transformers import AutoModelForImageTextToText

    truth = model_logits(AutoModelForImageTextToText.from_pretrained(str(src), dtype="auto").eval())
    assert max_abs_diff(truth, reference_logits(build_fixture("tiny-moe"))) > 0  # the copies really differ
    result = repair(src, tmp_path / "fixed", progress=False)
    model, _ = load_strict(str(result.dst))
    assert max_abs_diff(truth, model_logits(model)) == 0.0


# ---- 2. config consistency -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        {"num_experts": 7},  # beside num_local_experts 4
        {"num_experts_per_tok": 5},
        {"hidden_size": "64"},
        {"num_hidden_layers": -2},
        {"num_attention_heads": 0},
        {"num_local_experts": 4.5},
        {"num_hidden_layers": 10**30},
    ],
)
def test_config_contradictions_are_a_named_finding(tmp_path, edit):
    src = copy_fixture(tmp_path)
    cfg = json.loads((src / "config.json").read_text())
    cfg["text_config"].update(edit)
    (src / "config.json").write_text(json.dumps(cfg))
    report = diagnose(src)
    assert report.has("config-inconsistent") and not report.healthy, report.table()
    with pytest.raises(RepairError):
        repair(src, tmp_path / "fixed", progress=False)


@pytest.mark.parametrize(
    "edit",
    [
        {"hidden_size": "2048"},
        {"hidden_size": float("nan")},
        {"num_experts": 128.5},
        {"num_attention_heads": 0},
        {"num_hidden_layers": 10**30},
        {"num_hidden_layers": -48},
        {"num_experts_per_tok": 300},
        {"num_local_experts": 64},
        None,
    ],
)
def test_memory_cli_refuses_bad_configs_in_one_line(tmp_path, capsys, edit):
    cfg = json.loads(Path("data/configs/Qwen3-VL-30B-A3B-Instruct.json").read_text())
    if edit is None:
        cfg["text_config"] = None
    else:
        cfg["text_config"].update(edit)
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    rc, out, err = run(["memory", "--model", str(tmp_path / "c.json")], capsys)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and "text_config" in err


def test_census_reads_the_expert_count_like_transformers():
    saved = census(str(build_fixture("tiny-moe")))
    assert (
        "num_local_experts"
        in json.loads((build_fixture("tiny-moe") / "config.json").read_text())["text_config"]
    )
    assert census("tiny").active_params == saved.active_params < saved.total_params
    cfg = tiny_config_dict("tiny-moe")
    t = cfg["text_config"]
    t["num_local_experts"] = t.pop("num_experts")
    assert census(cfg).active_params == saved.active_params


# ---- 3. no traceback reaches a user -------------------------------------------------------------------


def test_repair_refuses_a_destination_inside_or_equal_to_the_source(tmp_path, capsys):
    src = copy_fixture(tmp_path)
    before = sorted(p.name for p in src.iterdir())
    for dst in (src / "fixed", src):
        rc, _, err = run(["doctor", "repair", str(src), str(dst)], capsys)
        assert rc == 2 and "inside the source" in err
    assert sorted(p.name for p in src.iterdir()) == before


@pytest.mark.parametrize("where", ["under-file", "proc", "reference"])
def test_repair_checks_paths_before_writing_and_leaves_nothing(tmp_path, capsys, where):
    src = copy_fixture(tmp_path)
    (tmp_path / "file").write_text("x")
    dst = {"under-file": tmp_path / "file" / "fixed", "proc": Path("/proc/qwen3vl-test/fixed")}.get(
        where, tmp_path / "new" / "fixed"
    )
    extra = ["--reference", str(tmp_path / "no-such-reference")] if where == "reference" else []
    rc, _, err = run(["doctor", "repair", str(src), str(dst), *extra], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "src"]


def test_failed_verify_removes_the_parents_it_created(tmp_path):
    src = copy_fixture(tmp_path)
    from helpers.checkpoints.faults import square_fixture

    with pytest.raises(RepairError):
        repair(src, tmp_path / "a" / "b" / "fixed", reference=square_fixture(), progress=False)
    assert not (tmp_path / "a").exists()


@pytest.fixture
def images(tmp_path):
    out = {
        "text": tmp_path / "notes.png",
        "truncated": tmp_path / "cut.png",
        "bomb": tmp_path / "bomb.png",
        "aspect": tmp_path / "aspect.png",
        "good": tmp_path / "good.png",
    }
    out["text"].write_text("not an image")
    good = png_bytes(64, 48)
    out["truncated"].write_bytes(good[: len(good) // 2])
    out["bomb"].write_bytes(png_bytes(8, 8, claimed=(20000, 20000)))
    out["aspect"].write_bytes(png_bytes(10000, 20))
    out["good"].write_bytes(good)
    return out


@pytest.mark.parametrize(
    "case",
    [
        ("text", []),
        ("truncated", []),
        ("bomb", []),
        ("aspect", []),
        ("good", ["--max-pixels", "-1"]),
        ("good", ["--min-pixels", "1000000000000"]),
        ("good", ["--timeout", "-1"]),
        ("good", ["--max-new-tokens", "1000000000000"]),
        ("good", ["--model", "CORRUPT"]),
    ],
)
def test_infer_refuses_bad_inputs_before_any_work(tmp_path, capsys, images, case):
    image, extra = case
    if "CORRUPT" in extra:
        folder = copy_fixture(tmp_path)
        shard = sorted(folder.glob("*.safetensors"))[0]
        shard.write_bytes(shard.read_bytes()[:1000])
        extra = ["--model", str(folder)]
    rc, out, err = run(["infer", "--image", str(images[image]), "--prompt", "hi", *extra], capsys)
    assert rc == 2 and out == "" and err.startswith("error:") and len(err.strip().splitlines()) == 1


# ---- 4. fixtures that heal -------------------------------------------------------------------------


def _cache_with(tmp_path: Path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    for name in ("tiny-moe", "tiny-dense"):
        shutil.copytree(build_fixture(name), cache / "fixtures" / name)
    monkeypatch.setenv("QWEN3VL_CACHE", str(cache))
    return cache / "fixtures" / "tiny-dense"


@pytest.mark.parametrize("damage", ["truncate", "stamp"])
def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch, capsys, damage):
    folder = _cache_with(tmp_path, monkeypatch)
    shard = sorted(folder.glob("*.safetensors"))[0]
    good = shard.read_bytes()
    if damage == "truncate":
        shard.write_bytes(good[:1000])
    else:
        (folder / "fixture-stamp.json").write_text("{not json")
    rc, out, _ = run(["fixtures", "build", "--json"], capsys)
    assert rc == 0 and json.loads(out)["tiny-dense"] == str(folder)
    assert shard.read_bytes() == good


@pytest.mark.parametrize("kind", ["file", "proc"])
def test_unwritable_cache_is_one_line_naming_the_variable(tmp_path, monkeypatch, capsys, kind):
    cache = tmp_path / "cache-file" if kind == "file" else Path("/proc/qwen3vl-cache")
    if kind == "file":
        cache.write_text("x")
    monkeypatch.setenv("QWEN3VL_CACHE", str(cache))
    rc, _, err = run(["fixtures", "build"], capsys)
    assert rc == 2 and "QWEN3VL_CACHE" in err and len(err.strip().splitlines()) == 1


# ---- redact ------------------------------------------------------------------------------------------


def test_redact_refuses_unknown_kind_and_closed_stdin(capsys):
    rc, _, err = run(["redact", "--keep", "BOGUS"], capsys, b"mail a@b.org")
    assert rc == 2 and "BOGUS" in err
    rc, _, err = run(["redact"], capsys, None)
    assert rc == 2 and "stdin" in err


@pytest.mark.parametrize("code", [errno.EPIPE, errno.ENOSPC])
def test_redact_with_a_broken_stdout_is_one_line(capsys, monkeypatch, code):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"mail a@b.org\n"), encoding="utf-8"))
    monkeypatch.setattr(sys, "stdout", BrokenStdout(code))
    rc = cli_main(["redact", "--quiet"])
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in err and "rerun with --debug" not in err
    assert os.fstat(1)  # the test process's stdout is still usable
