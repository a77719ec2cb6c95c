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

from fuzz_support import corrupt_index, edit_header_entry, replace_file

from helpers.checkpoints import diagnose
from helpers.checkpoints.verify import max_abs_diff, reference_logits
from helpers.core.fixtures import build_fixture
from helpers.load.loading import load_strict

CASES = 300


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
        replace_file(shard, bytes(data))
    elif kind == "truncate":
        replace_file(shard, raw[: rng.randrange(0, len(raw))])
    elif kind == "append":
        replace_file(shard, raw + bytes(rng.randrange(1, 64)))
    elif kind in ("header", "rename"):
        header, data = _split(raw)
        name = rng.choice([k for k in header if k != "__metadata__"])
        if kind == "rename":
            new = list(name)
            new[rng.randrange(len(new))] = rng.choice("abcxyz._0123")
            header["".join(new)] = header.pop(name)
        else:
            edit_header_entry(header, name, rng)
        text = json.dumps(header).encode()
        replace_file(shard, struct.pack("<Q", len(text)) + text + data)
    else:
        corrupt_index(folder, rng)
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
