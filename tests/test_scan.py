"""The doctor's streamed non-finite scan (helpers/checkpoints/scan.py): across chunk boundaries, with its
buffers reused from tensor to tensor, for every float dtype safetensors stores, and on a cut-short file."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import save_file

from helpers.checkpoints import scan
from helpers.core.safetensors_io import read_header

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.float8_e5m2, torch.float8_e4m3fn]


def _stored(path):
    return sorted(read_header(path).tensors.values(), key=lambda i: i.start)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_finds_every_nonfinite_value_across_chunks(tmp_path, monkeypatch, dtype):
    monkeypatch.setattr(scan, "SCAN_CHUNK_BYTES", 64)  # a few values per chunk: many boundaries crossed
    clean = torch.linspace(-3, 3, 300).to(dtype)
    bad = torch.linspace(-3, 3, 301).to(torch.float32)
    bad[[37, 38, 250]] = torch.tensor([math.nan, math.inf, -math.inf])
    if dtype == torch.float8_e4m3fn:
        bad[[38, 250]] = math.nan  # e4m3fn has no inf: the cast makes it NaN anyway
    path = tmp_path / "w.safetensors"
    # the clean tensor is scanned first, so the bad one reuses its buffers
    save_file({"a_clean": clean, "b_bad": bad.to(dtype), "c_clean": clean.clone()}, path)
    found = scan.nonfinite_tensors(_stored(path), {})
    assert [(name.split(" ")[0], count, first) for name, count, first, _ in found] == [("b_bad", 3, 37)]
    assert math.isnan(found[0][3])


def test_a_cut_short_tensor_is_scanned_as_far_as_it_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "SCAN_CHUNK_BYTES", 64)
    t = torch.zeros(1000, dtype=torch.bfloat16)
    t[10] = math.inf
    path = tmp_path / "w.safetensors"
    save_file({"w": t}, path)
    info = _stored(path)[0]
    path.write_bytes(path.read_bytes()[: info.start + 100])  # 50 values left of 1,000
    found = scan.nonfinite_tensors([info], {})
    assert [(count, first, value) for _, count, first, value in found] == [(1, 10, math.inf)]
