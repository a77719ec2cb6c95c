"""The repair's fast paths: raw byte-range copies (kernel and fallback) are byte-exact, the source's
headers are read once per repair, and the phases the benchmark splits memory by are recorded."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

import helpers.checkpoints.doctor as doctor
from helpers.checkpoints import repair
from helpers.checkpoints.faults import make_variant
from helpers.core.safetensors_io import SafetensorsError, ShardWriter, read_header, read_tensor


@pytest.fixture
def source(tmp_path):
    torch.manual_seed(0)
    tensors = {
        "a": torch.randn(300, 70).to(torch.bfloat16),
        "b": torch.arange(12, dtype=torch.int64).reshape(3, 4),
        "c": torch.randn(5),
    }
    path = tmp_path / "src.safetensors"
    save_file(tensors, path, metadata={"format": "pt"})
    return path, tensors


@pytest.mark.parametrize("kernel", [True, False])
def test_raw_range_copy_is_byte_exact(tmp_path, source, kernel):
    path, tensors = source
    header = read_header(path)
    out = tmp_path / "out.safetensors"
    specs = [("x.a", "BF16", (300, 70)), ("x.b", "I64", (3, 4)), ("x.c", "BF16", (5,))]
    writer = ShardWriter(out, specs, {"format": "pt"})
    writer._kernel_copy = kernel  # False: the plain read/write fallback used where copy_file_range fails
    writer.write("x.a", header.tensors["a"])  # raw bytes from the source file
    writer.write("x.b", header.tensors["b"])
    writer.write("x.c", read_tensor(header.tensors["c"]).to(torch.bfloat16))  # through torch (a cast)
    writer.close()
    got = load_file(out)
    assert torch.equal(got["x.a"], tensors["a"]) and torch.equal(got["x.b"], tensors["b"])
    assert torch.equal(got["x.c"], tensors["c"].to(torch.bfloat16))
    read_header(out)  # strict: the data covers the file exactly


def test_raw_copy_refuses_wrong_spec_and_short_source(tmp_path, source):
    path, _ = source
    header = read_header(path)
    writer = ShardWriter(tmp_path / "o.safetensors", [("a", "F32", (300, 70))], {"format": "pt"})
    with pytest.raises(ValueError, match="expected a F32"):
        writer.write("a", header.tensors["a"])  # BF16 bytes declared as F32
    writer.abort()
    last = max(header.tensors.values(), key=lambda t: t.end)
    path.write_bytes(path.read_bytes()[: last.end - 4])  # the file shrinks under the writer
    writer = ShardWriter(tmp_path / "p.safetensors", [(last.name, last.dtype, last.shape)], {"format": "pt"})
    with pytest.raises(SafetensorsError, match="cut short"):
        writer.write(last.name, last)
    writer.abort()
    writer = ShardWriter(tmp_path / "q.safetensors", [(last.name, last.dtype, last.shape)], {"format": "pt"})
    writer._kernel_copy = False
    with pytest.raises(SafetensorsError, match="cut short"):
        writer.write(last.name, last)
    writer.abort()


def test_repair_reads_source_headers_once_and_records_phases(tmp_path, monkeypatch):
    variant = make_variant("prefix-orig-mod", tmp_path)
    reads: dict[str, int] = {}
    original = doctor.read_header

    def counting(path, strict=True):
        reads[str(path)] = reads.get(str(path), 0) + 1
        return original(path, strict)

    monkeypatch.setattr(doctor, "read_header", counting)
    result = repair(variant.path, tmp_path / "fixed", progress=False)
    src_reads = {p: n for p, n in reads.items() if p.startswith(str(variant.path))}
    assert src_reads and set(src_reads.values()) == {1}, src_reads
    assert [name for name, _, _ in result.timeline] == ["diagnose", "rewrite", "check", "verify"]
    assert all(a <= b for _, a, b in result.timeline)
    assert result.verified


def test_verify_without_reference_is_a_real_strict_load(tmp_path):
    """The meta-device strict load still refuses a folder that would load with random weights."""
    from helpers.checkpoints import RepairError
    from helpers.checkpoints.repair import _verify

    broken = make_variant("prefix-orig-mod", tmp_path)
    with pytest.raises(RepairError, match="does not load cleanly"):
        _verify(broken.path, None)
    assert _verify(make_variant("experts-release-layout", tmp_path).path, None) == (None, "")  # clean
