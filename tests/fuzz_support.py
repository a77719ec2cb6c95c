"""Seeded bad inputs for the CLI fuzzer (tests/test_cli_fuzz.py): corrupted checkpoints, bad files, bad
numbers. Every generator takes a `random.Random` so a case is reproducible from the seed alone."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
import zlib
from pathlib import Path

INDEX = "model.safetensors.index.json"
# Values that are never a valid size/count: wrong types, non-finite, fractional, negative, zero, absurd.
BAD_NUMBERS = [
    "-1",
    "0",
    "-48",
    "1e3",
    "abc",
    "",
    "nan",
    "inf",
    "10" * 20,
    "1000000000000000000000000000000",
    "0x10",
    "1_0",
    "١٢",
    "--",
    " 5 ",
]
BAD_CONFIG_VALUES = ["2048", float("nan"), float("inf"), -48, 0, 10**30, 128.5, None, [], {}, True, "x"]
CONFIG_FIELDS = [
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "moe_intermediate_size",
    "num_local_experts",
    "num_experts",
    "num_experts_per_tok",
    "vocab_size",
]
CKPT_KINDS = ["flip", "header-flip", "truncate", "nan", "dupkey", "config", "index", "header"]
BF16_BAD = {"nan": b"\xc0\x7f", "inf": b"\x80\x7f", "-inf": b"\x80\xff"}


def replace_file(path: Path, data: bytes) -> None:
    """Write a new file at `path` (never through a hard link into the pristine fixture)."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def link_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


def split(raw: bytes) -> tuple[dict, int]:
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), 8 + n


def mutate_config(cfg: dict, rng) -> str:
    """One config mutation in place; returns a label. Every mutation is a real contradiction or bad value."""
    text = cfg.get("text_config")
    kind = rng.choice(["field", "field", "experts-contradict", "topk", "text-null", "experts-float"])
    if kind == "text-null" or not isinstance(text, dict):
        cfg["text_config"] = None
    elif kind == "experts-contradict":
        n = text.get("num_local_experts") or text.get("num_experts") or 4
        text["num_experts" if "num_local_experts" in text else "num_local_experts"] = n + rng.randint(1, 7)
    elif kind == "topk":
        n = text.get("num_local_experts") or text.get("num_experts") or 4
        text["num_experts_per_tok"] = n + rng.randint(1, 4)
    elif kind == "experts-float":
        key = "num_local_experts" if "num_local_experts" in text else "num_experts"
        text[key] = (text.get(key) or 4) + 0.5
    else:
        fieldname = rng.choice([f for f in CONFIG_FIELDS if f in text] or CONFIG_FIELDS)
        value = rng.choice(BAD_CONFIG_VALUES)
        kind = f"{fieldname}={value!r}"
        text[fieldname] = value
    return kind


def tree_hash(folder: Path) -> str:
    """One hash of a folder's names and bytes: a source tree is unchanged exactly when it is equal."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def corrupt_index(folder: Path, rng) -> None:
    """One damaging edit of the index: a dropped, absolute, parent or ghost entry, a wrong size, garbage."""
    index = json.loads((folder / INDEX).read_text())
    key = rng.choice(sorted(index["weight_map"]))
    edit = rng.choice(["drop", "absolute", "parent", "ghost", "size", "garbage"])
    if edit == "drop":
        index["weight_map"].pop(key)
    elif edit == "absolute":
        index["weight_map"][key] = "/etc/" + index["weight_map"][key]
    elif edit == "parent":
        index["weight_map"][key] = "../" + index["weight_map"][key]
    elif edit == "ghost":
        index["weight_map"][key] = "model-99999-of-99999.safetensors"
    elif edit == "size":
        index["metadata"]["total_size"] += rng.choice([-1, 1, 4096])
    text = json.dumps(index) if edit != "garbage" else json.dumps(index)[: rng.randrange(1, 200)]
    replace_file(folder / INDEX, text.encode())


def edit_header_entry(header: dict, name: str, rng) -> None:
    """One damaging edit of a safetensors header entry (shape, dtype, offsets) or of its metadata."""
    entry = header[name]
    edit = rng.choice(["shape", "dtype", "offset", "drop", "meta"])
    if edit == "shape" and entry["shape"]:
        entry["shape"][rng.randrange(len(entry["shape"]))] += rng.choice([-1, 1, 7])
    elif edit == "dtype":
        entry["dtype"] = rng.choice(["F32", "F16", "I8", "XX"])
    elif edit == "offset":
        entry["data_offsets"][rng.randrange(2)] += rng.choice([-2, 2, 10**9])
    elif edit == "drop":
        header.pop(name)
    else:
        header.pop("__metadata__", None)


def corrupt_checkpoint(folder: Path, kind: str, rng) -> str:
    """Damage a hard-linked copy of a healthy checkpoint in one way; returns a label."""
    shards = sorted(folder.glob("*.safetensors"))
    shard = rng.choice(shards)
    raw = shard.read_bytes()
    header, start = split(raw)
    if kind == "flip":  # a flip inside tensor data: only a recorded hash can see it
        data = bytearray(raw)
        pos = rng.randrange(start, len(raw))
        data[pos] ^= 1 << rng.randrange(8)
        replace_file(shard, bytes(data))
    elif kind == "header-flip":
        data = bytearray(raw)
        data[rng.randrange(0, start)] ^= rng.randrange(1, 256)
        replace_file(shard, bytes(data))
    elif kind == "truncate":
        replace_file(shard, raw[: rng.randrange(0, len(raw))])
    elif kind == "nan":
        names = [k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "BF16"]
        name = rng.choice(names)
        lo, hi = header[name]["data_offsets"]
        pos = start + lo + 2 * rng.randrange((hi - lo) // 2)
        bad = rng.choice(sorted(BF16_BAD))
        replace_file(shard, raw[:pos] + BF16_BAD[bad] + raw[pos + 2 :])
        return f"nan:{bad}:{name}"
    elif kind == "dupkey":
        return _duplicate_key(folder, shard, header, raw[start:], rng)
    elif kind == "config":
        cfg = json.loads((folder / "config.json").read_text())
        label = mutate_config(cfg, rng)
        replace_file(folder / "config.json", json.dumps(cfg).encode())
        return f"config:{label}"
    elif kind == "index":
        corrupt_index(folder, rng)
    else:  # header edits
        edit_header_entry(header, rng.choice([k for k in header if k != "__metadata__"]), rng)
        text = json.dumps(header).encode()
        replace_file(shard, struct.pack("<Q", len(text)) + text + raw[start:])
    return kind


def _duplicate_key(folder: Path, shard: Path, header: dict, data: bytes, rng) -> str:
    """Store one tensor again, with other values, in a new shard; the index names one copy or the other."""
    names = [k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "BF16"]
    name = rng.choice(names)
    lo, hi = header[name]["data_offsets"]
    values = bytearray(data[lo:hi])
    for i in range(0, len(values), 2):  # another finite bf16 value: flip the lowest mantissa bits
        values[i] ^= 0x35
    extra = {
        "__metadata__": {"format": "pt"},
        name: {"dtype": "BF16", "shape": header[name]["shape"], "data_offsets": [0, len(values)]},
    }
    text = json.dumps(extra).encode()
    (folder / "model-extra.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + bytes(values))
    index = json.loads((folder / INDEX).read_text())
    names_second = rng.random() < 0.5
    index["weight_map"][name] = "model-extra.safetensors" if names_second else shard.name
    replace_file(folder / INDEX, json.dumps(index).encode())
    return f"dupkey:{'second' if names_second else 'first'}:{name}"


def png_bytes(width: int, height: int, claimed: tuple[int, int] | None = None) -> bytes:
    """A valid PNG of width x height (gray), or one whose IHDR claims other dimensions (a bomb's header)."""
    w, h = claimed or (width, height)
    raw = b"".join(b"\x00" + bytes(width) for _ in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def bad_files(root: Path) -> dict[str, Path]:
    """Named bad inputs that are files or folders: missing, empty, binary, huge, unicode, text, a folder."""
    root.mkdir(parents=True, exist_ok=True)
    out = {
        "missing": root / "does-not-exist.png",
        "empty": root / "empty.png",
        "binary": root / "binary.png",
        "text": root / "notes.png",
        "folder": root / "a-folder",
        "unicode-missing": root / "图像 ünï.png",
        "truncated-png": root / "truncated.png",
        "bomb": root / "bomb.png",
        "aspect": root / "aspect.png",
        "huge-text": root / "huge.json",
    }
    out["empty"].write_bytes(b"")
    out["binary"].write_bytes(bytes(range(256)) * 64)
    out["text"].write_text("not an image\n")
    out["folder"].mkdir(exist_ok=True)
    good = png_bytes(64, 48)
    out["truncated-png"].write_bytes(good[: len(good) // 2])
    out["bomb"].write_bytes(png_bytes(8, 8, claimed=(20000, 20000)))
    out["aspect"].write_bytes(png_bytes(10000, 20))
    out["huge-text"].write_bytes(b"{" + b" " * (8 << 20))
    return out


def finite_json_numbers(obj) -> list[float]:
    """Every number in a JSON document (to check an estimate printed no negative or non-finite figure)."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in finite_json_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in finite_json_numbers(v)]
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        return []
    return [float(obj) if math.isfinite(obj) else float("nan")]
