"""`repair(src, dst)`: write a fixed, loadable copy of a checkpoint, tensor by tensor.

Streams: at most one tensor (or one MoE layer's experts while fusing them) is in memory, and a tensor
whose bytes need no change is copied as a raw byte range in the kernel, never read into Python. Writes into
a temporary folder beside dst, verifies it (the doctor finds nothing, `load_strict` reports no
missing/unexpected/mismatched key, and — when a reference is given — logits equal the reference's),
and only then renames it to dst. The source is only ever read.

Example:
    >>> result = repair("broken", "fixed", base=".cache/fixtures/tiny-moe")   # doctest: +SKIP
    >>> result.verified
    True
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.paths import atomic_folder
from helpers.core.safetensors_io import DTYPE_BYTES, TORCH_NAMES, SafetensorsError, ShardWriter, read_tensor

from . import config_checks as cc
from . import keys as K
from .doctor import INDEX, diagnose, examine
from .findings import PROCESSOR_FILES
from .report import Report
from .scan import MANIFEST

SKIP_SUFFIXES = (".safetensors", ".bin", ".py", ".pt", ".pth")
SKIP_NAMES = {INDEX, "pytorch_model.bin.index.json", "config.json", MANIFEST}
Spec = tuple[str, str, tuple[int, ...], int]  # an output tensor: (name, safetensors dtype, shape, nbytes)


class RepairError(WorkbookError, RuntimeError):
    """The checkpoint cannot be repaired (or the repaired copy failed verification); nothing was written."""


class RepairInputError(RepairError, ValueError):
    """The command itself is wrong (destination inside the source, unwritable, missing reference): exit 2."""


def _check_paths(src: Path, dst: Path, base: Path | None, reference: Path | None) -> None:
    """Everything about the paths that can fail, checked before a single byte is written."""
    s, d = src.resolve(), dst.resolve()
    if d == s or s in d.parents:
        raise RepairInputError(f"{dst} is inside the source {src}: choose a destination outside it")
    if dst.exists() or dst.is_symlink():
        raise RepairInputError(f"{dst} already exists: choose a new folder (repair never overwrites)")
    if reference is not None and not (reference / "config.json").is_file():
        raise RepairInputError(f"--reference {reference}: not a checkpoint folder (no config.json there)")
    if base is not None and not base.is_dir():
        raise RepairInputError(f"--base {base}: not a folder; give the base model's folder")


@contextmanager
def _parents_made(dst: Path) -> Iterator[None]:
    """Create dst's missing parents and prove the last one writable; on any failure remove what was
    created."""
    made = []
    for parent in reversed(dst.parents):
        if not parent.exists():
            made.append(parent)
    try:
        for parent in made:
            parent.mkdir()
        tempfile.TemporaryDirectory(dir=dst.parent).cleanup()  # writable?
    except OSError as err:
        _remove_empty(made)
        raise RepairInputError(
            f"cannot write {dst} ({err.strerror or type(err).__name__}): choose a writable destination"
        ) from None
    try:
        yield
    except BaseException:
        _remove_empty(made)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            break


@dataclass
class RepairResult:
    dst: Path
    after: Report
    tensors: int
    bytes_written: int
    seconds: float
    max_abs_diff: float | None = None
    timeline: list[tuple[str, float, float]] = field(default_factory=list)  # (phase, start, end) perf_counter

    @property
    def verified(self) -> bool:
        ok = all(f.severity == "info" or f.code == "experts-ambiguous-square" for f in self.after.findings)
        return ok and (self.max_abs_diff is None or self.max_abs_diff == 0.0)


def _fix_config(cfg: dict[str, Any], report: Report, virtual: dict) -> dict[str, Any]:
    cfg = json.loads(json.dumps(cfg))
    if (
        report.has("model-type-mismatch")
        or report.has("model-type-unknown")
        or report.has("architectures-mismatch")
    ):
        labels = cc.family_labels("moe" if any(".mlp.experts." in n for n in virtual) else "dense")
        cfg["model_type"], cfg["architectures"] = labels["model_type"], labels["architectures"]
        if isinstance(cfg.get("text_config"), dict):
            cfg["text_config"]["model_type"] = labels["text_model_type"]
        if isinstance(cfg.get("vision_config"), dict):
            cfg["vision_config"]["model_type"] = labels["vision_model_type"]
    cfg.pop("auto_map", None)  # remote code, never run
    if "torch_dtype" in cfg:
        value = cfg.pop("torch_dtype")
        cfg.setdefault("dtype", value)
    emb = virtual.get("model.language_model.embed_tokens.weight")
    if report.has("vocab-size-mismatch") and emb:
        cc.text_config(cfg)["vocab_size"] = emb[1][0]
    return cfg


def _plan(inv, virtual, report: Report, expert_layout: str | None) -> list[tuple[Spec, Callable[[], Any]]]:
    """[(output spec, producer() -> tensor or TensorInfo)] in source order; per-expert groups fused in place.

    Each spec comes from the analysed virtual tensors (no data read): the float dtype the config asks
    for when the dtypes drift, the transposed shape for release-layout experts. A safetensors tensor whose
    bytes need no change (renamed only) is produced as its TensorInfo: the writer copies that byte range
    from the source file without reading it into Python."""
    import torch

    def load(name):
        return read_tensor(inv.tensors[name]) if name in inv.tensors else inv.pickled[name]

    want = (
        cc.config_dtype(inv.config or {}) if report.has("dtype-drift") or report.has("dtype-mixed") else None
    )

    def spec(name: str, transpose: bool = False) -> Spec:
        dt, shape = virtual[name]
        dt = want if want and dt in cc.FLOAT_DTYPES else dt
        shape = (shape[0], shape[2], shape[1]) if transpose else tuple(shape)
        return name, dt, shape, math.prod(shape) * DTYPE_BYTES[dt]

    def finish(t, dt: str):
        return t.to(getattr(torch, TORCH_NAMES[dt]))  # a no-op unless the spec casts

    by_norm = {v: k for k, v in inv.renames.items()}
    groups = K.expert_groups(list(by_norm))
    member = {src: g for g, projs in groups.items() for p in projs.values() for src in p.values()}
    plan, done = [], set()
    for src, norm in inv.renames.items():
        if norm in member:
            group = member[norm]
            if group in done:
                continue
            done.add(group)
            projs = groups[group]
            n = len(projs["gate_proj"])
            gu, dn = (spec(name) for name in K.fused_names(group))

            def gate_up(projs=projs, n=n, dt=gu[1]):
                first = load(by_norm[projs["gate_proj"][0]])
                i = first.shape[0]
                out = torch.empty((n, 2 * i, *first.shape[1:]), dtype=first.dtype)  # filled expert by expert
                for e in range(n):
                    out[e, :i] = first if e == 0 else load(by_norm[projs["gate_proj"][e]])
                    out[e, i:] = load(by_norm[projs["up_proj"][e]])
                return finish(out, dt)

            def down(projs=projs, n=n, dt=dn[1]):
                first = load(by_norm[projs["down_proj"][0]])
                out = torch.empty((n, *first.shape), dtype=first.dtype)
                for e in range(n):
                    out[e] = first if e == 0 else load(by_norm[projs["down_proj"][e]])
                return finish(out, dt)

            plan += [(gu, gate_up), (dn, down)]
            continue
        transpose = bool(expert_layout == "release" and K.FUSED.match(norm) and len(virtual[norm][1]) == 3)
        out = spec(norm, transpose)
        info = inv.tensors.get(src)
        if info is not None and not transpose and info.dtype == out[1]:
            plan.append((out, lambda info=info: info))  # raw byte range: same bytes, new name/shard
            continue

        def produce(src=src, transpose=transpose, dt=out[1]):
            t = load(src)
            return finish(t.transpose(1, 2).contiguous() if transpose else t, dt)

        plan.append((out, produce))
    return plan


def repair(
    src: str | Path,
    dst: str | Path,
    base: str | Path | None = None,
    reference: str | Path | None = None,
    expert_layout: str | None = None,
    max_shard_bytes: int | None = None,
    progress: bool = True,
) -> RepairResult:
    """Repair `src` into a new folder `dst` (which must not exist); see the module docstring.

    base: a folder to copy missing processor/tokenizer/chat-template files from.
    reference: a trusted checkpoint; the repaired logits must equal its logits exactly.
    expert_layout: "release" or "memory", required only when the experts are square (ambiguous).
    Raises RepairInputError (bad paths, before anything is written) or RepairError (cannot repair, or the
    copy failed verification); either way dst and every folder created for it are gone.
    """
    start = time.perf_counter()
    timeline: list[tuple[str, float, float]] = []
    src, dst = Path(src), Path(dst)
    base, reference = (None if x is None else Path(x) for x in (base, reference))
    _check_paths(src, dst, base, reference)
    before, inv, virtual = examine(src)  # headers read and analysed once, reused below
    timeline.append(("diagnose", start, time.perf_counter()))
    blocking = [f for f in before.findings if f.severity in ("error", "warning") and not f.repairable]
    if blocking:
        raise RepairError(f"cannot repair {src}: " + "; ".join(f"{f.code} ({f.fix})" for f in blocking))
    if before.has("processor-files-missing") and base is None:
        raise RepairError(
            f"{src} lacks processor/tokenizer files: pass --base BASE (a folder of the base model)"
        )
    if before.has("experts-ambiguous-square") and expert_layout not in ("release", "memory"):
        raise RepairError(
            "square experts are ambiguous: pass expert_layout='release' or 'memory' (--expert-layout)"
        )
    with _parents_made(dst):
        try:
            return _rewrite(
                src,
                dst,
                base,
                reference,
                expert_layout,
                max_shard_bytes,
                progress,
                inv,
                virtual,
                before,
                start,
                timeline,
            )
        except (OSError, SafetensorsError) as err:
            raise RepairError(
                f"repair of {src} failed: {type(err).__name__}: {err}; nothing was written"
            ) from None


def _rewrite(
    src, dst, base, reference, expert_layout, max_shard_bytes, progress, inv, virtual, before, start, timeline
) -> RepairResult:
    """The rewrite into a temporary sibling of dst, its checks, and the rename (see `repair`)."""
    from tqdm.auto import tqdm

    with atomic_folder(dst) as tmp:
        cfg = _fix_config(inv.config, before, virtual)
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        for p in sorted(src.iterdir()):
            if (
                p.is_file()
                and not p.is_symlink()
                and p.name not in SKIP_NAMES
                and not p.name.endswith(SKIP_SUFFIXES)
            ):
                shutil.copyfile(p, tmp / p.name)
        if base is not None:
            for name in PROCESSOR_FILES:
                if (Path(base) / name).is_file() and not (tmp / name).exists():
                    shutil.copyfile(Path(base) / name, tmp / name)
        plan = _plan(inv, virtual, before, expert_layout)
        limit = max_shard_bytes or max(inv.largest_file, 1 << 20)
        shards: list[list[int]] = [[]]
        size = 0
        for i, ((_, _, _, n), _) in enumerate(plan):
            if shards[-1] and size + n > limit:
                shards.append([])
                size = 0
            shards[-1].append(i)
            size += n
        weight_map, written = {}, 0
        bar = tqdm(total=len(plan), desc="repair: tensors", unit="tensor", disable=not progress)
        for s, idxs in enumerate(shards):
            fname = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
            writer = ShardWriter(tmp / fname, [plan[i][0][:3] for i in idxs], {"format": "pt"})
            try:
                for i in idxs:
                    (name, _, _, n), produce = plan[i]
                    writer.write(name, produce())
                    weight_map[name] = fname
                    written += n
                    bar.update(1)
            except BaseException:
                writer.abort()
                raise
            writer.close()
        bar.close()
        t_check = time.perf_counter()
        timeline.append(("rewrite", timeline[-1][2], t_check))
        index = {"metadata": {"total_size": written}, "weight_map": dict(sorted(weight_map.items()))}
        (tmp / INDEX).write_text(json.dumps(index, indent=2) + "\n")
        # The source's tensors were scanned (non-finite values refuse the repair); the copy holds the same
        # values, copied or permuted, so its data needs another scan only when the repair cast a dtype.
        after = diagnose(tmp, scan=before.has("dtype-drift") or before.has("dtype-mixed"))
        after.path = str(dst)
        resolved = {"experts-ambiguous-square"} if expert_layout else set()
        left = [f.code for f in after.findings if f.severity != "info" and f.code not in resolved]
        if left:
            raise RepairError(f"the repaired copy still has problems: {left}")
        t_verify = time.perf_counter()
        timeline.append(("check", t_check, t_verify))
        diff, where = _verify(tmp, reference)
        timeline.append(("verify", t_verify, time.perf_counter()))
        if diff is not None and not diff == 0.0:
            raise RepairError(f"repaired logits differ from the reference by {diff:.3g}: not repaired{where}")
    return RepairResult(dst, after, len(plan), written, time.perf_counter() - start, diff, timeline)


def _verify(folder: Path, reference: str | Path | None) -> tuple[float | None, str]:
    """Strict load of the repaired folder; logits vs the reference when given (max abs diff).

    Without a reference the strict load goes to the meta device (`device_map="meta"`): the same
    `from_pretrained` path, key conversions and loading report (missing / unexpected / mismatched, or
    the same exception; checked on every fault variant), with no tensor materialised, so verifying
    holds about nothing in memory even where Transformers would transpose release-layout experts.
    Logits need real weights: with a reference, both models are loaded for real (memory-mapped)."""
    from helpers.core.errors import LoadingReportError
    from helpers.load.loading import load_strict, quiet_transformers

    from .verify import max_abs_diff, model_logits, nonfinite_where, reference_logits

    try:
        with quiet_transformers():
            model, _ = load_strict(str(folder), **({} if reference is not None else {"device_map": "meta"}))
    except LoadingReportError as err:
        raise RepairError(f"the repaired copy does not load cleanly: {str(err).splitlines()[0]}") from None
    if reference is None:
        return None, ""
    ref, got = reference_logits(reference), model_logits(model)
    bad = [
        f"{who} logits: {w}"
        for who, w in (("reference", nonfinite_where(ref)), ("repaired", nonfinite_where(got)))
        if w
    ]
    return max_abs_diff(ref, got), (" (non-finite " + "; ".join(bad) + ")" if bad else "")
