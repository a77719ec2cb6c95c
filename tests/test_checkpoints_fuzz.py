"""Fuzz the doctor: hundreds of seeded random corruptions of the tiny checkpoint's headers, index, key
names and sizes. diagnose must never raise, and must never call a damaged folder healthy: whenever it
does say healthy, the folder must load strictly with logits identical to the original's.

Flips inside tensor data are not fuzzed: safetensors stores no checksum, so no tool can see them."""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
from pathlib import Path

from helpers.checkpoints import diagnose
from helpers.checkpoints.doctor import INDEX
from helpers.checkpoints.verify import max_abs_diff, reference_logits
from helpers.core.fixtures import build_fixture
from helpers.load.loading import load_strict

CASES = 300


def _replace(path: Path, data: bytes) -> None:
    path.unlink()  # never write through a hard link into the fixture
    path.write_bytes(data)


def _split(raw: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def corrupt(folder: Path, rng: random.Random) -> str:
    shard = sorted(folder.glob("*.safetensors"))[-1]  # the small one (all the layers)
    raw = shard.read_bytes()
    kind = rng.choice(["flip", "truncate", "header", "header", "index", "rename", "append"])
    if kind == "flip":
        (n,) = struct.unpack("<Q", raw[:8])
        pos = rng.randrange(0, 8 + n)
        data = bytearray(raw)
        data[pos] ^= rng.randrange(1, 256)
        _replace(shard, bytes(data))
    elif kind == "truncate":
        _replace(shard, raw[: rng.randrange(0, len(raw))])
    elif kind == "append":
        _replace(shard, raw + bytes(rng.randrange(1, 64)))
    elif kind in ("header", "rename"):
        header, data = _split(raw)
        name = rng.choice([k for k in header if k != "__metadata__"])
        entry = header[name]
        if kind == "rename":
            new = list(name)
            new[rng.randrange(len(new))] = rng.choice("abcxyz._0123")
            header["".join(new)] = header.pop(name)
        else:
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
        text = json.dumps(header).encode()
        _replace(shard, struct.pack("<Q", len(text)) + text + data)
    else:
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
        _replace(folder / INDEX, text.encode())
    return kind


def test_fuzz_diagnose_never_raises_never_calls_damage_healthy(tmp_path):
    base = build_fixture("tiny-moe")
    reference = reference_logits(base)
    rng = random.Random(20261129)
    healthy_verdicts, kinds = 0, set()
    for case in range(CASES):
        folder = tmp_path / f"case{case}"
        shutil.copytree(base, folder, copy_function=os.link)
        kinds.add(corrupt(folder, rng))
        report = diagnose(folder)  # must not raise
        if report.healthy:
            healthy_verdicts += 1
            model, _ = load_strict(str(folder))  # a "healthy" verdict must be true
            from helpers.checkpoints.verify import model_logits

            assert max_abs_diff(reference, model_logits(model)) == 0.0, (
                f"case {case}: damaged but called healthy"
            )
        shutil.rmtree(folder)
    assert kinds == {"flip", "truncate", "header", "index", "rename", "append"}
    assert healthy_verdicts < CASES // 10  # nearly every corruption is real damage, and is reported
