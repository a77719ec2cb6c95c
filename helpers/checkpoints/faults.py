"""Broken variants of the embedded tiny checkpoint, one per failure mode, for the notebook and the tests.

Every variant starts as a copy of `build_fixture("tiny-moe")` (or a square-expert sibling built the
same way) and is damaged the way real checkpoints are. `FAULTS` lists them: name -> Fault(mode,
expect_code, repairable, square, repair_kwargs, harmless), with what each damage is beside it.

Example:
    >>> v = make_variant("prefix-orig-mod", Path("/tmp/faults"))     # doctest: +SKIP
    >>> diagnose(v.path).has("prefix-orig-mod")                        # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.paths import CACHE_DIR, atomic_folder

from .doctor import INDEX


@dataclass(frozen=True)
class Fault:
    mode: int  # the failure-mode number of issue 5 (0: training / adapter layouts)
    expect: str  # the finding code diagnose must report
    repairable: bool
    square: bool = False  # built from the square-expert sibling
    repair_kwargs: dict[str, Any] = field(default_factory=dict)
    harmless: bool = False  # Transformers 5.23 loads it correctly: diagnose reports it as info only


@dataclass(frozen=True)
class Variant:
    name: str
    path: Path
    reference: Path  # the healthy checkpoint it was made from
    fault: Fault


def _shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def rewrite_weights(folder: Path, fn: Callable[[dict], dict], metadata: dict | None = None) -> None:
    """Apply fn to each shard's state dict (new files, never in place) and rebuild the index's weight_map."""
    from safetensors.torch import load_file, save_file

    wmap, total = {}, 0
    for p in _shards(folder):
        sd = fn(load_file(p))
        p.unlink()
        save_file(sd, p, metadata=metadata if metadata is not None else {"format": "pt"})
        wmap.update({k: p.name for k in sd})
        total += sum(v.numel() * v.element_size() for v in sd.values())
    index = json.loads((folder / INDEX).read_text())
    index["weight_map"] = dict(sorted(wmap.items()))
    index["metadata"]["total_size"] = total
    (folder / INDEX).write_text(json.dumps(index, indent=2))


def _edit_json(path: Path, fn: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data, indent=2))


def _rename(fn: Callable[[str], str]) -> Callable[[Path], None]:
    return lambda d: rewrite_weights(d, lambda sd: {fn(k): v for k, v in sd.items()})


def _legacy(k: str) -> str:
    return k.replace("model.language_model.", "model.").replace("model.visual.", "visual.")


def _per_expert(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        if k.endswith("experts.gate_up_proj"):
            i = v.shape[1] // 2
            for e in range(v.shape[0]):
                out[k.replace("gate_up_proj", f"{e}.gate_proj.weight")] = v[e, :i].clone()
                out[k.replace("gate_up_proj", f"{e}.up_proj.weight")] = v[e, i:].clone()
        elif k.endswith("experts.down_proj"):
            for e in range(v.shape[0]):
                out[k.replace("down_proj", f"{e}.down_proj.weight")] = v[e].clone()
        else:
            out[k] = v
    return out


def _transpose_experts(sd: dict) -> dict:
    return {
        k: (
            v.transpose(1, 2).contiguous() if k.endswith(("experts.gate_up_proj", "experts.down_proj")) else v
        )
        for k, v in sd.items()
    }


def _dense_label(d: Path) -> None:
    def edit(c):
        c.update(model_type="qwen3_vl", architectures=["Qwen3VLForConditionalGeneration"])
        c["text_config"]["model_type"], c["vision_config"]["model_type"] = "qwen3_vl_text", "qwen3_vl"

    _edit_json(d / "config.json", edit)


def _last_shard(d: Path) -> Path:
    return _shards(d)[-1]


def _write_bytes(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _truncate(d: Path) -> None:
    p = _shards(d)[0]
    _write_bytes(p, p.read_bytes()[: p.stat().st_size // 2])


def _header_corrupt(d: Path) -> None:
    p = _last_shard(d)
    raw = bytearray(p.read_bytes())
    raw[8:12] = b"\x00\xff{["
    _write_bytes(p, bytes(raw))


def _header_beyond(d: Path) -> None:
    p = _last_shard(d)
    raw = p.read_bytes()
    _write_bytes(p, struct.pack("<Q", len(raw) * 4) + raw[8:])


def _trailing(d: Path) -> None:
    p = _last_shard(d)
    _write_bytes(p, p.read_bytes() + b"\0" * 4096)


def _lfs(d: Path) -> None:
    p = _shards(d)[0]
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{'0' * 64}\nsize {p.stat().st_size}\n"
    _write_bytes(p, pointer.encode())


def _index_edit(fn: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda d: _edit_json(d / INDEX, fn)


def _move_to_new_shard(d: Path, dup: bool) -> None:
    """Copy one tensor into an extra shard (orphan, or duplicate when `dup`)."""
    from safetensors.torch import load_file, save_file

    p = _last_shard(d)
    sd = load_file(p)
    name = next(k for k in sd if k.endswith("norm.weight"))
    save_file({name: sd[name]}, d / "extra.safetensors", metadata={"format": "pt"})
    if not dup:
        rest = {k: v for k, v in sd.items() if k != name}
        p.unlink()
        save_file(rest, p, metadata={"format": "pt"})
        _edit_json(d / INDEX, lambda i: i["weight_map"].pop(name))


def _missing_shard(d: Path) -> None:
    _shards(d)[0].unlink()


def _unsafe(i: dict) -> None:
    k = next(iter(i["weight_map"]))
    i["weight_map"][k] = "../" + i["weight_map"][k]


def _pickle(unsafe: bool) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        import argparse

        import torch
        from safetensors.torch import load_file

        sd = {}
        for p in _shards(d):
            sd.update(load_file(p))
            p.unlink()
        (d / INDEX).unlink()
        obj = {"state_dict": sd, "args": argparse.Namespace(lr=1e-4)} if unsafe else sd
        torch.save(obj, d / "pytorch_model.bin")

    return build


def _processor_missing(d: Path) -> None:
    from helpers.core.fixtures import PROCESSOR_FILES

    for name in PROCESSOR_FILES:
        (d / name).unlink(missing_ok=True)


def _shape(sd: dict) -> dict:
    return {
        k: (v[:, :-1].contiguous() if k.endswith("layers.0.self_attn.q_proj.weight") else v)
        for k, v in sd.items()
    }


def _training(kind: str) -> Callable[[Path], None]:
    def build(d: Path) -> None:
        for p in list(d.iterdir()):
            p.unlink()
        if kind == "adapter":
            (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
            (d / "adapter_model.safetensors").write_bytes(b"")
        elif kind == "deepspeed":
            (d / "global_step10").mkdir()
            (d / "global_step10" / "zero_pp_rank_0_mp_rank_00_model_states.pt").write_bytes(b"")
            (d / "zero_pp_rank_0_mp_rank_00_optim_states.pt").write_bytes(b"")
            (d / "zero_to_fp32.py").write_text("# DeepSpeed's script\n")
            (d / "latest").write_text("global_step10\n")
        else:
            (d / "__0_0.distcp").write_bytes(b"")
            (d / ".metadata").write_bytes(b"")

    return build


FAULTS: dict[str, Fault] = {
    "prefix-orig-mod": Fault(1, "prefix-orig-mod", True),  # `_orig_mod.` on every key (torch.compile)
    "prefix-module": Fault(1, "prefix-module", True),  # `module.` on every key (DDP / DataParallel)
    "prefix-fsdp": Fault(1, "prefix-fsdp", True),  # `_fsdp_wrapped_module.` inside keys (FSDP)
    "prefix-peft": Fault(1, "prefix-peft", True),  # `base_model.model.` (PEFT model saved whole)
    "legacy-layout": Fault(2, "legacy-layout", True),  # model.layers.* / visual.* (legacy Qwen-VL layout)
    "experts-per-expert": Fault(3, "experts-per-expert", True),  # experts.N.{gate,up,down}_proj.weight
    "experts-release-layout": Fault(3, "experts-release-layout", True, harmless=True),  # fused, [E,H,2I]
    "experts-square-release": Fault(
        3,
        "experts-ambiguous-square",
        True,
        square=True,  # square experts,
        repair_kwargs={"expert_layout": "release"},
    ),  # release layout (ambiguous)
    "model-type-dense": Fault(4, "model-type-mismatch", True),  # MoE weights labelled qwen3_vl (dense)
    "config-torch-dtype": Fault(4, "config-torch-dtype", True, harmless=True),  # torch_dtype, not dtype
    "vocab-size": Fault(4, "vocab-size-mismatch", True),  # vocab_size smaller than the embedding rows
    "lm-head-missing": Fault(4, "lm-head-missing", False),  # untied lm_head.weight deleted
    "auto-map": Fault(4, "auto-map-remote-code", True),  # auto_map pointing at remote code
    "processor-missing": Fault(5, "processor-files-missing", True),  # tokenizer, processor, template deleted
    "index-missing-shard": Fault(6, "index-missing-shard", False),  # a shard the index names is gone
    "index-orphan-shard": Fault(6, "index-orphan-shard", True),  # a shard the index does not mention
    "index-duplicate": Fault(6, "duplicate-tensor", True),  # the same tensor in two shards
    "index-total-size": Fault(6, "index-total-size", True),  # wrong total_size
    "index-unsafe-path": Fault(6, "index-unsafe-path", True),  # weight_map entry `../…`
    "file-truncated": Fault(7, "file-truncated", False),  # a shard cut in half (partial download)
    "file-lfs-pointer": Fault(7, "file-lfs-pointer", False),  # a git-lfs pointer instead of the shard
    "file-header-corrupt": Fault(7, "file-header-corrupt", False),  # garbage in a header
    "file-header-beyond": Fault(7, "file-header-beyond-file", False),  # header length beyond the file
    "file-trailing-bytes": Fault(7, "data-not-covered", True),  # data does not cover the file (4 KiB added)
    "file-no-format": Fault(7, "missing-format-metadata", True),  # no `format: pt` metadata
    "dtype-fp32": Fault(8, "dtype-drift", True),  # fp32 weights, config says bf16
    "pickle-bin": Fault(9, "pickle-bin", True),  # pytorch_model.bin (plain state dict)
    "pickle-unsafe": Fault(9, "pickle-unsafe", False),  # pytorch_model.bin needing full unpickling
    "shape-mismatch": Fault(10, "shape-mismatch", False),  # a q_proj one column short
    "adapter-only": Fault(0, "adapter-only", False),  # a PEFT adapter folder
    "deepspeed": Fault(0, "deepspeed-checkpoint", False),  # a DeepSpeed ZeRO checkpoint
    "dcp": Fault(0, "dcp-checkpoint", False),  # an FSDP / DCP sharded checkpoint
}

BUILDERS: dict[str, Callable[[Path], None]] = {
    "prefix-orig-mod": _rename(lambda k: "_orig_mod." + k),
    "prefix-module": _rename(lambda k: "module." + k),
    "prefix-fsdp": _rename(
        lambda k: k.replace("layers.0.", "layers.0._fsdp_wrapped_module.").replace(
            "blocks.0.", "blocks.0._fsdp_wrapped_module."
        )
    ),
    "prefix-peft": _rename(lambda k: "base_model.model." + k),
    "legacy-layout": _rename(_legacy),
    "experts-per-expert": lambda d: rewrite_weights(d, _per_expert),
    "experts-release-layout": lambda d: rewrite_weights(d, _transpose_experts),
    "experts-square-release": lambda d: rewrite_weights(d, _transpose_experts),
    "model-type-dense": _dense_label,
    "config-torch-dtype": lambda d: _edit_json(
        d / "config.json", lambda c: c.update(torch_dtype=c.pop("dtype"))
    ),
    "vocab-size": lambda d: _edit_json(
        d / "config.json", lambda c: c["text_config"].update(vocab_size=151000)
    ),
    "lm-head-missing": lambda d: rewrite_weights(
        d, lambda sd: {k: v for k, v in sd.items() if k != "lm_head.weight"}
    ),
    "auto-map": lambda d: _edit_json(
        d / "config.json",
        lambda c: c.update(auto_map={"AutoModelForImageTextToText": "modeling_evil.EvilModel"}),
    ),
    "processor-missing": _processor_missing,
    "index-missing-shard": _missing_shard,
    "index-orphan-shard": lambda d: _move_to_new_shard(d, dup=False),
    "index-duplicate": lambda d: _move_to_new_shard(d, dup=True),
    "index-total-size": _index_edit(
        lambda i: i["metadata"].update(total_size=i["metadata"]["total_size"] + 2)
    ),
    "index-unsafe-path": _index_edit(_unsafe),
    "file-truncated": _truncate,
    "file-lfs-pointer": _lfs,
    "file-header-corrupt": _header_corrupt,
    "file-header-beyond": _header_beyond,
    "file-trailing-bytes": _trailing,
    "file-no-format": lambda d: rewrite_weights(d, dict, metadata={}),
    "dtype-fp32": lambda d: rewrite_weights(d, lambda sd: {k: v.float() for k, v in sd.items()}),
    "pickle-bin": _pickle(unsafe=False),
    "pickle-unsafe": _pickle(unsafe=True),
    "shape-mismatch": lambda d: rewrite_weights(d, _shape),
    "adapter-only": _training("adapter"),
    "deepspeed": _training("deepspeed"),
    "dcp": _training("dcp"),
}


def square_fixture() -> Path:
    """A healthy tiny MoE whose experts are square (moe_intermediate 32: 2I == H == 64), built like the
    embedded fixture (real class, seeded random weights, save_pretrained); cached."""
    from helpers.core.fixtures import PROCESSOR_FILES, SHARD_SIZE, build_fixture, build_model

    dest = CACHE_DIR / "fixtures" / "tiny-moe-square"
    if (dest / "config.json").exists():
        return dest
    model = build_model("tiny-moe", seed=4321, text_overrides={"moe_intermediate_size": 32})
    base = build_fixture("tiny-moe")
    with atomic_folder(dest) as tmp:
        model.save_pretrained(tmp, max_shard_size=SHARD_SIZE)
        for name in PROCESSOR_FILES:
            shutil.copyfile(base / name, tmp / name)
    return dest


def make_variant(name: str, root: Path | None = None) -> Variant:
    """Build one broken variant in root/name (replaced if present); returns where it is and its reference."""
    from helpers.core.fixtures import build_fixture

    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; choose one of {sorted(FAULTS)}")
    fault = FAULTS[name]
    reference = square_fixture() if fault.square else build_fixture("tiny-moe")
    dest = Path(root or CACHE_DIR / "faults") / name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(reference, dest, ignore=shutil.ignore_patterns("fixture-stamp.json"))
    BUILDERS[name](dest)
    return Variant(name, dest, reference, fault)
