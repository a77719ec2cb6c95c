"""The doctor's value checks, streamed: every stored float tensor is read shard by shard in chunks of at
most SCAN_CHUNK_BYTES and checked for NaN / ±inf, and when the folder carries an integrity manifest (the
fixtures' `fixture-stamp.json` records each file's size and SHA-256 at build time) every file is hashed
against it. Memory stays bounded by one chunk, whatever the checkpoint's size.

Example:
    >>> from helpers.core.fixtures import build_fixture
    >>> from helpers.checkpoints.report import Report
    >>> r = Report(path="tiny")
    >>> scan_folder(build_fixture("tiny-moe"), [], {}, r)
    >>> r.findings
    []
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from helpers.core.safetensors_io import DTYPE_BYTES, TORCH_NAMES, TensorInfo

from .report import Report

CHUNK_BYTES = 32 << 20  # hashing reads
SCAN_CHUNK_BYTES = 8 << 20  # the non-finite scan's three reused buffers: 24 MiB in all
MANIFEST = "fixture-stamp.json"
FLOAT_CODES = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2")
MAX_LISTED = 20  # tensors reported one by one; the rest are counted


# float dtype -> (unsigned view, exponent mask): a value is NaN or ±inf exactly when its exponent bits
# are all 1
EXPONENT = {
    "F64": ("<u8", 0x7FF0000000000000),
    "F32": ("<u4", 0x7F800000),
    "F16": ("<u2", 0x7C00),
    "BF16": ("<u2", 0x7F80),
    "F8_E5M2": ("u1", 0x7C),
}
NAN_E4M3 = 0x7F  # float8_e4m3fn has no inf; NaN is S.1111.111


def _nonfinite_chunks(info: TensorInfo, buffers: dict[str, Any]) -> tuple[int, int | None, float | None]:
    """(count of non-finite values, flat index of the first, its value) of one stored tensor, read in chunks
    as unsigned integers (exponent bits all 1 = NaN or inf): no float conversion. The chunk buffers are
    allocated once per scan and reused (fresh arrays per chunk cost a fresh process more in page faults
    than the check itself: about 2x on a 200 MB checkpoint)."""
    import numpy as np

    size = DTYPE_BYTES[info.dtype]
    view, mask = EXPONENT.get(info.dtype, ("u1", None))
    if not buffers:
        buffers.update(
            raw=np.empty(SCAN_CHUNK_BYTES, "u1"),
            bits=np.empty(SCAN_CHUNK_BYTES, "u1"),
            bad=np.empty(SCAN_CHUNK_BYTES, bool),
        )
    step = max(1, SCAN_CHUNK_BYTES // size)
    count, first, value = 0, None, None
    with info.file.open("rb") as f:
        f.seek(info.start)
        done, total = 0, info.nbytes // size
        while done < total:
            want = min(step, total - done) * size
            got = f.readinto(memoryview(buffers["raw"])[:want]) // size
            if not got:
                break  # cut short: the header checks report it
            x = buffers["raw"][: got * size].view(view)
            bits = buffers["bits"][: got * size].view(view)
            bad = buffers["bad"][:got]
            np.bitwise_and(x, 0x7F if mask is None else mask, out=bits)
            np.equal(bits, NAN_E4M3 if mask is None else mask, out=bad)
            n = int(np.count_nonzero(bad))
            if n and first is None:
                i = int(np.argmax(bad))
                first, value = done + i, _value(info.dtype, x[i : i + 1])
            count += n
            done += got
    return count, first, value


def _value(dtype: str, raw: Any) -> float:
    import torch

    t = torch.from_numpy(raw.copy().view("u1")).view(getattr(torch, TORCH_NAMES[dtype]))
    return float(t.float()[0])


def nonfinite_tensors(stored: list[TensorInfo], pickled: dict[str, Any]) -> list[tuple[str, int, int, float]]:
    """[(tensor name, non-finite count, first flat index, its value)] over every stored copy of every
    tensor."""
    import torch

    out: list[tuple[str, int, int, float]] = []
    buffers: dict[str, Any] = {}
    for info in stored:
        if info.dtype in FLOAT_CODES and info.nbytes:
            count, first, value = _nonfinite_chunks(info, buffers)
            if count:
                out.append((f"{info.name} ({info.file.name})", count, first, value))
    for name, t in pickled.items():
        if t.is_floating_point() and t.numel():
            bad = ~torch.isfinite(t.reshape(-1).float())
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                out.append((name, int(bad.sum()), i, float(t.reshape(-1)[i])))
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK_BYTES):
            h.update(block)
    return h.hexdigest()


def manifest_mismatches(folder: Path) -> list[str]:
    """Files whose size or SHA-256 differs from the folder's manifest (empty without a manifest)."""
    try:
        files = json.loads((folder / MANIFEST).read_text()).get("files")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(files, dict):
        return []
    bad = []
    for name, want in sorted(files.items()):
        p = folder / str(name)
        if not isinstance(want, dict) or Path(str(name)).name != name:
            continue
        if not p.is_file():
            bad.append(f"{name} (missing)")
        elif p.stat().st_size != want.get("size"):
            bad.append(f"{name} (size {p.stat().st_size}, recorded {want.get('size')})")
        elif _sha256(p) != want.get("sha256"):
            bad.append(f"{name} (SHA-256 differs)")
    return bad


def scan_folder(folder: Path, stored: list[TensorInfo], pickled: dict[str, Any], report: Report) -> None:
    """Add `nonfinite-weights` (one finding per tensor) and `checksum-mismatch` findings to `report`."""
    bad = nonfinite_tensors(stored, pickled)
    for name, count, first, value in bad[:MAX_LISTED]:
        report.add(
            "nonfinite-weights",
            "error",
            f"{name}: {count} non-finite value(s), first at flat index {first} = {value}",
            "download the checkpoint again or restore it from a trusted copy; "
            "NaN/inf weights make every logit NaN",
        )
    if len(bad) > MAX_LISTED:
        report.add(
            "nonfinite-weights",
            "error",
            f"{len(bad) - MAX_LISTED} more tensors hold NaN/inf",
            "restore the checkpoint from a trusted copy",
        )
    changed = manifest_mismatches(Path(folder))
    if changed:
        report.add(
            "checksum-mismatch",
            "error",
            f"{len(changed)} file(s) differ from {MANIFEST}'s record, e.g. {changed[0]}",
            "the bytes were damaged after they were written: rebuild or download the files again",
        )
