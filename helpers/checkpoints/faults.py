"""Broken variants of the embedded tiny checkpoint, one per failure mode, for the notebook and the tests.

Every variant starts as a copy of `build_fixture("tiny-moe")` (or a square-expert sibling built the
same way) and is damaged the way real checkpoints are. `FAULTS` lists them: name -> Fault(mode, what,
expect_code, repairable, reference, repair_kwargs).

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

from helpers.paths import CACHE_DIR

INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class Fault:
    mode: int  # the failure-mode number of issue 5 (0: training / adapter layouts)
    what: str
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
    return {k: (v.transpose(1, 2).contiguous() if k.endswith(("experts.gate_up_proj", "experts.down_proj")) else v)
            for k, v in sd.items()}  # fmt: skip


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
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "processor_config.json"):
        (d / name).unlink(missing_ok=True)


def _shape(sd: dict) -> dict:
    return {k: (v[:, :-1].contiguous() if k.endswith("layers.0.self_attn.q_proj.weight") else v) for k, v in sd.items()}


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
    "prefix-orig-mod": Fault(1, "`_orig_mod.` on every key (torch.compile)", "prefix-orig-mod", True),
    "prefix-module": Fault(1, "`module.` on every key (DDP / DataParallel)", "prefix-module", True),
    "prefix-fsdp": Fault(1, "`_fsdp_wrapped_module.` inside keys (FSDP)", "prefix-fsdp", True),
    "prefix-peft": Fault(1, "`base_model.model.` (PEFT model saved whole)", "prefix-peft", True),
    "legacy-layout": Fault(2, "model.layers.* / visual.* (legacy Qwen-VL layout)", "legacy-layout", True),
    "experts-per-expert": Fault(3, "experts.N.gate_proj/up_proj/down_proj.weight", "experts-per-expert", True),
    "experts-release-layout": Fault(3, "fused experts in the release layout [E,H,2I]", "experts-release-layout", True,
                                    harmless=True),
    "experts-square-release": Fault(3, "square experts, release layout (ambiguous)", "experts-ambiguous-square", True,
                                    square=True, repair_kwargs={"expert_layout": "release"}),  # fmt: skip
    "model-type-dense": Fault(4, "MoE weights labelled qwen3_vl (dense)", "model-type-mismatch", True),
    "config-torch-dtype": Fault(4, "config uses torch_dtype instead of dtype", "config-torch-dtype", True, harmless=True),
    "vocab-size": Fault(4, "vocab_size smaller than the embedding rows", "vocab-size-mismatch", True),
    "lm-head-missing": Fault(4, "untied lm_head.weight deleted", "lm-head-missing", False),
    "auto-map": Fault(4, "auto_map pointing at remote code", "auto-map-remote-code", True),
    "processor-missing": Fault(5, "tokenizer, processor and chat template deleted", "processor-files-missing", True),
    "index-missing-shard": Fault(6, "a shard the index names is gone", "index-missing-shard", False),
    "index-orphan-shard": Fault(6, "a shard the index does not mention", "index-orphan-shard", True),
    "index-duplicate": Fault(6, "the same tensor in two shards", "duplicate-tensor", True),
    "index-total-size": Fault(6, "wrong total_size", "index-total-size", True),
    "index-unsafe-path": Fault(6, "weight_map entry `../…`", "index-unsafe-path", True),
    "file-truncated": Fault(7, "a shard cut in half (partial download)", "file-truncated", False),
    "file-lfs-pointer": Fault(7, "a git-lfs pointer instead of the shard", "file-lfs-pointer", False),
    "file-header-corrupt": Fault(7, "garbage in a header", "file-header-corrupt", False),
    "file-header-beyond": Fault(7, "header length beyond the file", "file-header-beyond-file", False),
    "file-trailing-bytes": Fault(7, "data does not cover the file (4 KiB appended)", "data-not-covered", True),
    "file-no-format": Fault(7, "no `format: pt` metadata", "missing-format-metadata", True),
    "dtype-fp32": Fault(8, "fp32 weights, config says bf16", "dtype-drift", True),
    "pickle-bin": Fault(9, "pytorch_model.bin (plain state dict)", "pickle-bin", True),
    "pickle-unsafe": Fault(9, "pytorch_model.bin needing full unpickling", "pickle-unsafe", False),
    "shape-mismatch": Fault(10, "a q_proj one column short", "shape-mismatch", False),
    "adapter-only": Fault(0, "a PEFT adapter folder", "adapter-only", False),
    "deepspeed": Fault(0, "a DeepSpeed ZeRO checkpoint", "deepspeed-checkpoint", False),
    "dcp": Fault(0, "an FSDP / DCP sharded checkpoint", "dcp-checkpoint", False),
}

BUILDERS: dict[str, Callable[[Path], None]] = {
    "prefix-orig-mod": _rename(lambda k: "_orig_mod." + k),
    "prefix-module": _rename(lambda k: "module." + k),
    "prefix-fsdp": _rename(lambda k: k.replace("layers.0.", "layers.0._fsdp_wrapped_module.").replace(
        "blocks.0.", "blocks.0._fsdp_wrapped_module.")),  # fmt: skip
    "prefix-peft": _rename(lambda k: "base_model.model." + k),
    "legacy-layout": _rename(_legacy),
    "experts-per-expert": lambda d: rewrite_weights(d, _per_expert),
    "experts-release-layout": lambda d: rewrite_weights(d, _transpose_experts),
    "experts-square-release": lambda d: rewrite_weights(d, _transpose_experts),
    "model-type-dense": _dense_label,
    "config-torch-dtype": lambda d: _edit_json(d / "config.json", lambda c: c.update(torch_dtype=c.pop("dtype"))),
    "vocab-size": lambda d: _edit_json(d / "config.json", lambda c: c["text_config"].update(vocab_size=151000)),
    "lm-head-missing": lambda d: rewrite_weights(d, lambda sd: {k: v for k, v in sd.items() if k != "lm_head.weight"}),
    "auto-map": lambda d: _edit_json(d / "config.json", lambda c: c.update(
        auto_map={"AutoModelForImageTextToText": "modeling_evil.EvilModel"})),  # fmt: skip
    "processor-missing": _processor_missing,
    "index-missing-shard": _missing_shard,
    "index-orphan-shard": lambda d: _move_to_new_shard(d, dup=False),
    "index-duplicate": lambda d: _move_to_new_shard(d, dup=True),
    "index-total-size": _index_edit(lambda i: i["metadata"].update(total_size=i["metadata"]["total_size"] + 2)),
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
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from helpers.fixtures import SHARD_SIZE, build_fixture, tiny_config_dict

    dest = CACHE_DIR / "fixtures" / "tiny-moe-square"
    if (dest / "config.json").exists():
        return dest
    cfg = tiny_config_dict("tiny-moe")
    cfg["text_config"]["moe_intermediate_size"] = 32
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    torch.manual_seed(4321)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    tmp = dest.with_name(".tiny-moe-square.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, max_shard_size=SHARD_SIZE)
    base = build_fixture("tiny-moe")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "processor_config.json"):
        shutil.copyfile(base / name, tmp / name)
    tmp.rename(dest)
    return dest


def make_variant(name: str, root: Path | None = None) -> Variant:
    """Build one broken variant in root/name (replaced if present); returns where it is and its reference."""
    from helpers.fixtures import build_fixture

    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; choose one of {sorted(FAULTS)}")
    fault = FAULTS[name]
    reference = square_fixture() if fault.square else build_fixture("tiny-moe")
    dest = Path(root or CACHE_DIR / "faults") / name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(reference, dest, ignore=shutil.ignore_patterns("fixture-stamp.json"))
    BUILDERS[name](dest)
    return Variant(name, dest, reference, fault)
