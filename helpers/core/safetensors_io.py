"""Read and write safetensors files ourselves, with every bound checked before a byte is trusted.

A safetensors file is: 8 bytes little-endian header length N, N bytes of JSON (name -> dtype,
shape, data_offsets; optional "__metadata__"), then the data. `read_header` checks that the header
fits the file, that each tensor's byte range matches dtype x shape, and that the ranges cover the
data exactly (no gaps, no overlaps, nothing after the end) — the cases behind "HeaderTooLarge",
"MetadataIncompleteBuffer" and "file not fully covered". `read_tensor` reads one tensor only;
`ShardWriter` writes a file tensor by tensor (header first, then each tensor's bytes).

Example:
    >>> h = read_header(path)                       # doctest: +SKIP
    >>> h.metadata, len(h.tensors)                  # doctest: +SKIP
    ({'format': 'pt'}, 24)
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

MAX_HEADER = 100_000_000  # the safetensors library's own limit
# The two lookup tables below keep `# fmt: skip`: packed, a dtype family a line, they read as the table they
# are; one entry a line (ruff format's layout) would spread 17 pairs over 17 lines.
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
    "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "C64": 8,
}  # fmt: skip
TORCH_NAMES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
    "I16": "int16", "I8": "int8", "U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64",
    "BOOL": "bool", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
    "C64": "complex64",
}  # fmt: skip
LFS_MAGIC = b"version https://git-lfs"


class SafetensorsError(Exception):
    """A damaged safetensors file; `code` names the damage (e.g. "header-beyond-file")."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives: file, dtype (safetensors name), shape, absolute byte range."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int
    file: Path

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass
class Header:
    path: Path
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    metadata: dict[str, str] | None = None


def read_header(path: Path, strict: bool = True) -> Header:
    """Parse and bounds-check one safetensors file's header; raises SafetensorsError.

    strict=False accepts data that does not cover the file exactly (gaps, trailing bytes) so that
    `repair` can still read every tensor; overlapping tensors are refused either way."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if head.startswith(LFS_MAGIC[:8]) and (head + f.read(len(LFS_MAGIC) - 8)).startswith(LFS_MAGIC):
            raise SafetensorsError(
                "lfs-pointer", f"{path.name} is a git-lfs pointer file ({size} bytes), not weights"
            )
        if len(head) < 8:
            raise SafetensorsError(
                "file-too-small", f"{path.name} has {size} bytes: fewer than the 8-byte header length"
            )
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER:
            raise SafetensorsError(
                "header-too-large", f"{path.name}: header length {n:,} exceeds 100 MB (HeaderTooLarge)"
            )
        if 8 + n > size:
            raise SafetensorsError(
                "header-beyond-file",
                f"{path.name}: header of {n:,} bytes runs past the end of a {size:,}-byte file",
            )
        raw = f.read(n)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise SafetensorsError(
            "header-corrupt", f"{path.name}: header is not valid JSON ({type(err).__name__})"
        ) from None
    if not isinstance(doc, dict):
        raise SafetensorsError("header-corrupt", f"{path.name}: header is JSON but not an object")
    meta = doc.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise SafetensorsError("header-corrupt", f"{path.name}: __metadata__ is not a map of strings")
    base, data_len = 8 + n, size - 8 - n
    header = Header(path, metadata=meta)
    spans = []
    for name, entry in doc.items():
        header.tensors[name] = _entry(path, name, entry, base, data_len)
        spans.append((entry["data_offsets"][0], entry["data_offsets"][1], name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin < pos:
            raise SafetensorsError(
                "header-corrupt", f"{path.name}: tensor {name!r} overlaps the one before it"
            )
        if begin > pos and strict:
            raise SafetensorsError(
                "data-not-covered", f"{path.name}: gap at byte {pos:,} before tensor {name!r}"
            )
        pos = end
    if pos != data_len and strict:
        raise SafetensorsError(
            "data-not-covered",
            f"{path.name}: tensors cover {pos:,} of {data_len:,} data bytes "
            "(incomplete metadata, file not fully covered)",
        )
    return header


def _entry(path: Path, name: str, entry: object, base: int, data_len: int) -> TensorInfo:
    bad = f"{path.name}: tensor {name!r}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise SafetensorsError("header-corrupt", f"{bad} lacks dtype/shape/data_offsets")
    dtype, shape, offs = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BYTES:
        raise SafetensorsError("header-corrupt", f"{bad} has unknown dtype {str(dtype)[:20]!r}")
    ints = isinstance(shape, list) and isinstance(offs, list) and len(offs) == 2
    ints = ints and all(type(x) is int and x >= 0 for x in [*shape, *offs])
    if not ints or offs[0] > offs[1]:
        raise SafetensorsError("header-corrupt", f"{bad} has a malformed shape or data_offsets")
    if offs[1] > data_len:
        raise SafetensorsError(
            "truncated",
            f"{bad} ends at data byte {offs[1]:,} but the file holds {data_len:,} (truncated download?)",
        )
    if offs[1] - offs[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
        raise SafetensorsError(
            "header-corrupt", f"{bad}: {offs[1] - offs[0]} bytes do not hold {dtype} {shape}"
        )
    return TensorInfo(name, dtype, tuple(shape), base + offs[0], base + offs[1], path)


def read_tensor(info: TensorInfo):
    """Read one tensor's bytes (nothing else) into a CPU torch tensor."""
    import torch

    dtype = getattr(torch, TORCH_NAMES[info.dtype])
    if not info.nbytes:
        return torch.empty(info.shape, dtype=dtype)
    out = torch.empty(
        info.nbytes, dtype=torch.uint8
    )  # read straight into the tensor: no zero-fill, no 2nd copy
    with info.file.open("rb", buffering=0) as f:
        f.seek(info.start)
        view, got = memoryview(out.numpy()), 0
        while got < info.nbytes:
            n = f.readinto(view[got:])
            if not n:
                raise SafetensorsError("truncated", f"{info.file.name}: tensor {info.name!r} is cut short")
            got += n
    return out.view(dtype).reshape(info.shape)


def st_dtype(torch_dtype) -> str:
    """safetensors dtype name of a torch dtype (torch.bfloat16 -> "BF16")."""
    name = str(torch_dtype).removeprefix("torch.")
    return next(k for k, v in TORCH_NAMES.items() if v == name)


class ShardWriter:
    """Write one safetensors file tensor by tensor: declare (name, dtype, shape) first, then `write` each
    tensor in the same order. Only one tensor is held at a time.

    `write` takes a torch tensor, or a `TensorInfo` whose bytes need no change: those are copied as a raw
    byte range from the source file (`os.copy_file_range`, in the kernel, like `cp`), never through torch.

    Example:
        >>> w = ShardWriter(path, [("a", "BF16", (2, 3))], {"format": "pt"})   # doctest: +SKIP
        >>> w.write("a", tensor); w.close()                                     # doctest: +SKIP
    """

    def __init__(self, path: Path, specs: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str]):
        doc: dict[str, object] = {"__metadata__": metadata}
        pos = 0
        self.order = []
        for name, dtype, shape in specs:
            n = math.prod(shape) * DTYPE_BYTES[dtype]
            doc[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [pos, pos + n]}
            self.order.append((name, dtype, tuple(shape), n))
            pos += n
        raw = json.dumps(doc, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        self.path = Path(path)
        self.f = self.path.open("wb", buffering=0)  # unbuffered: large writes go straight to the kernel
        self._sources: dict[Path, object] = {}
        self._kernel_copy = hasattr(os, "copy_file_range")
        self._write_all(memoryview(struct.pack("<Q", len(raw)) + raw))
        self.next = 0

    def _write_all(self, view: memoryview) -> None:
        while view:
            view = view[self.f.write(view) :]

    def write(self, name: str, tensor) -> None:
        exp_name, dtype, shape, n = self.order[self.next]
        if isinstance(tensor, TensorInfo):
            if name != exp_name or tensor.shape != shape or tensor.dtype != dtype:
                raise ValueError(
                    f"expected {exp_name} {dtype} {shape}, got {name} {tensor.dtype} {tensor.shape}"
                )
            self._copy_range(tensor)
            self.next += 1
            return
        if name != exp_name or tuple(tensor.shape) != shape or st_dtype(tensor.dtype) != dtype:
            raise ValueError(
                f"expected {exp_name} {dtype} {shape}, got {name} {tensor.dtype} {tuple(tensor.shape)}"
            )
        t = tensor.contiguous()
        if n:
            self._write_all(memoryview(t.view(-1).view(__import__("torch").uint8).numpy()))
        self.next += 1

    def _copy_range(self, info: TensorInfo) -> None:
        src = self._sources.get(info.file)
        if src is None:
            src = self._sources[info.file] = info.file.open("rb", buffering=0)
        offset, left = info.start, info.nbytes
        while left and self._kernel_copy:
            try:
                got = os.copy_file_range(src.fileno(), self.f.fileno(), left, offset)
            except OSError:  # e.g. EXDEV on an older kernel, or a file system without it: plain reads below
                self._kernel_copy = False
                break
            if not got:
                raise SafetensorsError("truncated", f"{info.file.name}: tensor {info.name!r} is cut short")
            offset, left = offset + got, left - got
        if left:
            src.seek(offset)
            buf = memoryview(bytearray(min(left, 1 << 24)))
            while left:
                got = src.readinto(buf[: min(left, len(buf))])
                if not got:
                    raise SafetensorsError(
                        "truncated", f"{info.file.name}: tensor {info.name!r} is cut short"
                    )
                self._write_all(buf[:got])
                left -= got

    def abort(self) -> None:
        """Close the files without the completeness check (the caller removes the partial file)."""
        for f in self._sources.values():
            f.close()
        self._sources.clear()
        self.f.close()

    def close(self) -> None:
        self.abort()
        if self.next != len(self.order):
            raise ValueError(
                f"{self.path.name}: {len(self.order) - self.next} declared tensors were not written"
            )
