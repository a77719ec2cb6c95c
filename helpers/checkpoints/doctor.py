"""`diagnose(path)`: read a checkpoint folder's headers, index and config — never its tensors' values,
never any pickle beyond `torch.load(weights_only=True)` — and say what is wrong.

Example:
    >>> from helpers.core.fixtures import build_fixture
    >>> diagnose(build_fixture("tiny-moe")).healthy
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.safetensors_io import SafetensorsError, TensorInfo, read_header

from . import config_checks as cc
from . import keys as K
from .findings import check_dtype, check_processor, check_shapes
from .report import Report
from .scan import scan_folder

INDEX = "model.safetensors.index.json"
TRAINING_LAYOUTS = [
    # (finding code / kind, test on file names, what it is, the right tool)
    (
        "deepspeed",
        lambda n: any(
            x.startswith(("zero_pp_rank_", "bf16_zero_pp_rank_"))
            or x == "zero_to_fp32.py"
            or x.endswith("_optim_states.pt")
            for x in n
        ),
        "a DeepSpeed ZeRO training checkpoint (partitioned zero_pp_rank_* shards)",
        "consolidate it with DeepSpeed's zero_to_fp32.py (`python zero_to_fp32.py CKPT OUT "
        "--safe_serialization`), "
        "then save_pretrained",
    ),
    (
        "dcp",
        lambda n: (
            any(x.endswith(".distcp") for x in n) or any(x.startswith("pytorch_model_fsdp_") for x in n)
        ),
        "an FSDP / torch.distributed.checkpoint (DCP) sharded checkpoint",
        "merge it with `accelerate merge-weights CKPT OUT` or torch.distributed.checkpoint.format_utils."
        "dcp_to_torch_save, then save_pretrained",
    ),
    (
        "megatron",
        lambda n: any(x.startswith("mp_rank_") for x in n),
        "a Megatron-LM tensor/pipeline-parallel checkpoint (mp_rank_*)",
        "convert it with Megatron's checkpoint converter to Hugging Face format",
    ),
]


class CheckpointInputError(WorkbookError, ValueError):
    """The path is not something the doctor can examine (missing, not a folder)."""


@dataclass
class Inventory:
    """What the folder holds: each stored tensor (first copy), the pickled state dicts, the config."""

    folder: Path
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    pickled: dict[str, Any] = field(default_factory=dict)  # name -> tensor (memory-mapped)
    config: dict[str, Any] | None = None
    renames: dict[str, str] = field(default_factory=dict)  # source name -> normalized name
    stored: list[TensorInfo] = field(default_factory=list)  # every stored copy, duplicates included
    largest_file: int = 0

    def spec(self, name: str) -> tuple[str, tuple[int, ...]]:
        """(safetensors dtype, shape) of a stored tensor."""
        if name in self.tensors:
            return self.tensors[name].dtype, self.tensors[name].shape
        from helpers.core.safetensors_io import st_dtype

        t = self.pickled[name]
        return st_dtype(t.dtype), tuple(t.shape)


def _plain(name: object) -> bool:
    return (
        isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..") and "\\" not in name
    )


def _training_layout(folder: Path, names: set[str], report: Report) -> bool:
    if (folder / "adapter_config.json").exists() and not (folder / "config.json").exists():
        report.kind = "adapter"
        report.add(
            "adapter-only",
            "error",
            "adapter_config.json and adapter weights, no model config: a PEFT adapter",
            "merge it into its base model: PeftModel.from_pretrained(base, folder).merge_and_unload(), "
            "then save_pretrained",
        )
        return True
    for code, test, what, tool in TRAINING_LAYOUTS:
        if test(names):
            report.kind = code
            report.add(f"{code}-checkpoint", "error", f"this is {what}, not a Transformers folder", tool)
            return True
    return False


def _read_safetensors(folder: Path, inv: Inventory, report: Report) -> None:
    files = sorted(p for p in folder.glob("*.safetensors") if p.is_file() and not p.is_symlink())
    headers = {}
    for p in files:
        inv.largest_file = max(inv.largest_file, p.stat().st_size)
        try:
            headers[p.name] = read_header(p)
        except SafetensorsError as err:
            if err.code == "data-not-covered":
                headers[p.name] = read_header(p, strict=False)
                report.add(
                    "data-not-covered", "error", str(err), "rewrite the file (every tensor is intact)", True
                )
            else:
                fix = (
                    "download the file again (git lfs pull / huggingface-cli download); its bytes are gone"
                    if err.code in ("lfs-pointer", "truncated", "header-beyond-file", "file-too-small")
                    else "download the file again: its header is damaged"
                )
                report.add(f"file-{err.code}", "error", str(err), fix)
        except OSError as err:
            report.add("file-unreadable", "error", f"{p.name}: {err}", "check permissions / download again")
    for name, h in headers.items():
        if not h.metadata or h.metadata.get("format") != "pt":
            report.add(
                "missing-format-metadata",
                "warning",
                f"{name}: __metadata__ {h.metadata!r} lacks format='pt' (older loaders and other tools "
                f"refuse it)",
                "rewrite with metadata {'format': 'pt'}",
                True,
            )
    index_path = folder / INDEX
    order, wmap = list(headers), {}
    if index_path.exists():
        order, wmap = _check_index(index_path, headers, report)
    seen: dict[str, str] = {}
    dups = []
    for fname in order:
        for tname, info in headers[fname].tensors.items():
            inv.stored.append(info)
            if tname in seen:
                dups.append(f"{tname} in {seen[tname]} and {fname}")
                if wmap.get(tname) != fname:
                    continue  # keep the copy the index names (the one from_pretrained loads)
            seen[tname] = fname
            inv.tensors[tname] = info
    if dups:
        report.add(
            "duplicate-tensor",
            "warning",
            f"{len(dups)} tensor(s) stored twice, e.g. {dups[0]}",
            "keep one copy (the one the index names)",
            True,
        )


def _check_index(index_path: Path, headers: dict, report: Report) -> tuple[list[str], dict[str, str]]:
    """Index checks; returns shard names in the order to trust them (index-named first) and the weight map."""
    try:
        index = json.loads(index_path.read_text())
        wmap = index["weight_map"]
        assert isinstance(wmap, dict) and all(isinstance(v, str) for v in wmap.values())
    except Exception as err:  # noqa: BLE001 - any malformed index is one finding
        report.add(
            "index-corrupt",
            "error",
            f"{INDEX} is unreadable ({type(err).__name__})",
            "rebuild the index from the shards' headers",
            True,
        )
        return list(headers), {}
    unsafe = sorted({v for v in wmap.values() if not _plain(v)})
    if unsafe:
        report.add(
            "index-unsafe-path",
            "error",
            f"weight_map points outside the folder: {unsafe[:2]} (never followed)",
            "rebuild the index from the shards inside the folder",
            True,
        )
    named = {v for v in wmap.values() if _plain(v)}
    all_present = {t for h in headers.values() for t in h.tensors}
    for shard in sorted(named - set(headers)):
        lost = [t for t, f in wmap.items() if f == shard and t not in all_present]
        report.add(
            "index-missing-shard",
            "error",
            f"the index names {shard}, which is missing or unreadable"
            + (f" ({len(lost)} tensors exist nowhere else)" if lost else ""),
            "download the shard again" if lost else "rebuild the index",
            not lost,
        )
    orphans = sorted(set(headers) - named)
    if orphans:
        unlisted = [t for f in orphans for t in headers[f].tensors if t not in wmap]
        report.add(
            "index-orphan-shard",
            "error" if unlisted else "warning",
            f"{orphans} not in the index"
            + (f"; {len(unlisted)} of their tensors would never load" if unlisted else ""),
            "rebuild the index from the shards",
            True,
        )
    wrong = [t for t, f in wmap.items() if f in headers and t not in headers[f].tensors]
    if wrong:
        report.add(
            "index-shard-mismatch",
            "error",
            f"{len(wrong)} index entries name a shard that lacks them, e.g. {wrong[0]}",
            "rebuild the index from the shards",
            all(t in all_present for t in wrong),
        )
    total = sum(
        headers[f].tensors[t].nbytes for t, f in wmap.items() if f in headers and t in headers[f].tensors
    )
    stated = (
        (index.get("metadata") or {}).get("total_size") if isinstance(index.get("metadata"), dict) else None
    )
    if stated is not None and stated != total:
        report.add(
            "index-total-size",
            "warning",
            f"total_size {stated} but the indexed tensors hold {total} bytes",
            "rebuild the index",
            True,
        )
    return [f for f in headers if f in named] + orphans, {t: f for t, f in wmap.items() if _plain(f)}


def _read_pickles(folder: Path, inv: Inventory, report: Report) -> None:
    import pickle

    import torch

    for p in sorted(folder.glob("pytorch_model*.bin")):
        inv.largest_file = max(inv.largest_file, p.stat().st_size)
        try:
            try:
                sd = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):
                    raise
                sd = torch.load(p, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, Exception) as err:  # noqa: BLE001
            why = str(err).splitlines()[0][:160]
            report.add(
                "pickle-unsafe",
                "error",
                f"{p.name} does not load with weights_only=True: {why}",
                "refused: it needs full unpickling, which can run arbitrary code. Only if you trust its "
                "origin, load it in a sandbox and save_pretrained(...) to safetensors",
            )
            continue
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            report.add(
                "pickle-not-state-dict",
                "error",
                f"{p.name} holds {type(sd).__name__}, not a flat state dict",
                "extract the model's state dict (e.g. ckpt['model']) and save it with save_pretrained",
            )
            continue
        for k, v in sd.items():
            inv.pickled.setdefault(k, v)
        report.add(
            "pickle-bin",
            "warning",
            f"{p.name}: pickle format ({len(sd)} tensors), loadable only via torch.load(weights_only=True)",
            "convert to safetensors",
            True,
        )


def inventory(path: str | Path, report: Report | None = None) -> tuple[Inventory, Report]:
    """Read what a folder holds (headers only) and fill a report with the file-level findings."""
    folder = Path(path)
    if not folder.exists():
        raise CheckpointInputError(f"{folder} does not exist: pass a checkpoint folder")
    if not folder.is_dir():
        raise CheckpointInputError(
            f"{folder} is a file: pass the folder that holds config.json and the weights"
        )
    report = report or Report(path=str(folder))
    inv = Inventory(folder)
    names = {p.name for p in folder.iterdir()}
    if _training_layout(folder, names, report):
        return inv, report
    cfg_path = folder / "config.json"
    if not cfg_path.exists():
        report.add("config-missing", "error", "no config.json", "copy config.json from the base model")
    else:
        try:
            inv.config = json.loads(cfg_path.read_text())
            assert isinstance(inv.config, dict)
        except Exception:  # noqa: BLE001
            inv.config = None
            report.add("config-corrupt", "error", "config.json is not a JSON object", "restore config.json")
    _read_safetensors(folder, inv, report)
    if not inv.tensors:
        _read_pickles(folder, inv, report)
        report.kind = "pickle" if inv.pickled else report.kind
    if (
        not inv.tensors
        and not inv.pickled
        and not any(f.code.startswith(("file-", "pickle")) for f in report.findings)
    ):
        report.kind = "empty"
        report.add(
            "no-weights", "error", "no *.safetensors or pytorch_model*.bin weights", "download the weights"
        )
    report.tensors = len(inv.tensors) + len(inv.pickled)
    report.weight_bytes = sum(t.nbytes for t in inv.tensors.values())
    return inv, report


def diagnose(path: str | Path, scan: bool = True) -> Report:
    """Examine a checkpoint folder; returns a Report (`.healthy`, `.findings`, `.table()`, `.to_json()`).

    Raises CheckpointInputError only when the path is not a folder. `scan=False` skips reading the tensor
    data (the non-finite and checksum scan): only for a folder whose bytes were already scanned elsewhere.

    Example:
        >>> r = diagnose(".cache/fixtures/tiny-moe")      # doctest: +SKIP
        >>> r.healthy, r.codes
        (True, [])
    """
    return examine(path, scan)[0]


def examine(
    path: str | Path, scan: bool = True
) -> tuple[Report, Inventory, dict[str, tuple[str, tuple[int, ...]]]]:
    """`diagnose` that also returns what it read: (report, inventory, tensors as the model would see them).

    `repair` uses it so that the source's headers are read and analysed once.

    Example:
        >>> report, inv, virtual = examine(".cache/fixtures/tiny-moe")   # doctest: +SKIP
        >>> report.healthy, len(inv.tensors) == len(virtual)
        (True, True)
    """
    inv, report = inventory(path)
    if report.kind in ("adapter", "deepspeed", "dcp", "megatron"):
        return report, inv, {}
    if scan:
        scan_folder(Path(path), inv.stored, inv.pickled, report)
    virtual = K.analyse_names(inv, report)
    cfg = inv.config
    if cfg is not None and virtual:
        moe = any(".mlp.experts." in n for n in virtual)
        dense = any(".mlp.gate_proj." in n and "language_model" in n for n in virtual)
        if cc.check_config(cfg, moe, dense, report):
            check_shapes(cfg, virtual, report)
            check_dtype(cfg, virtual, report)
    check_processor(Path(path), report)
    return report, inv, virtual
