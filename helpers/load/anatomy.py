"""Checkpoint anatomy: shards, tensors, dtypes and bytes, read from the index and safetensors headers only.

`read_anatomy(folder)` opens each shard with `safetensors.safe_open` and asks for names, shapes and
dtypes: no tensor is read. `release_anatomy(config)` derives the same table for a release that is not
here (the 30B-A3B) from its config on the meta device; fused expert tensors get the *release* layout
([E, H, 2I] / [E, I, H]), found by reversing the transposes in Transformers' own checkpoint conversion
mapping, and shards are cut the way `save_pretrained` cuts them (huggingface_hub's splitter).

Example:
    >>> from helpers.core.model import select_model
    >>> a = read_anatomy(select_model("tiny").source)
    >>> a.n_tensors, len(a.shards)
    (70, 3)
    >>> release_anatomy("data/configs/Qwen3-VL-30B-A3B-Instruct.json").n_tensors
    882
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.core.errors import WorkbookError
from helpers.core.safetensors_io import DTYPE_BYTES, st_dtype
from helpers.core.tables import frame
from helpers.core.units import GIB, fmt_gib, gib
from helpers.estimate.census import meta_model


class AnatomyError(WorkbookError, ValueError):
    """A checkpoint folder whose index or headers cannot be read."""


@dataclass(frozen=True)
class TensorEntry:
    """One stored tensor: name, shape, safetensors dtype, bytes, shard file, and its group."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    shard: str

    @property
    def group(self) -> str:
        """vision / embeddings / layer N / lm_head / norm — the unit a device map places."""
        if ".visual." in f".{self.name}":
            return "vision"
        m = re.search(r"layers\.(\d+)\.", self.name)
        if m:
            return f"layer {int(m.group(1))}"
        if "embed_tokens" in self.name:
            return "embeddings"
        if self.name.startswith("lm_head"):
            return "lm_head"
        return "norm"

    @property
    def is_expert(self) -> bool:
        return ".mlp.experts." in self.name


@dataclass
class CheckpointAnatomy:
    """Every tensor of a checkpoint and the shard it lives in."""

    source: str
    tensors: list[TensorEntry] = field(default_factory=list)
    derived: bool = False  # True: computed from a config on meta, not read from files

    @property
    def n_tensors(self) -> int:
        return len(self.tensors)

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def shards(self) -> list[str]:
        return sorted({t.shard for t in self.tensors})

    def shard_rows(self) -> list[dict[str, Any]]:
        """One row per shard: tensors, bytes, dtypes, and which groups (layers) it holds."""
        rows = []
        for shard in self.shards:
            items = [t for t in self.tensors if t.shard == shard]
            groups = list(dict.fromkeys(t.group for t in items))
            rows.append(
                {
                    "shard": shard,
                    "tensors": len(items),
                    "bytes": sum(t.nbytes for t in items),
                    "dtypes": dict(Counter(t.dtype for t in items)),
                    "groups": _compact(groups),
                }
            )
        return rows

    def expert_fraction(self) -> float:
        """Share of the bytes held by MoE expert tensors."""
        return sum(t.nbytes for t in self.tensors if t.is_expert) / max(self.total_bytes, 1)

    def table(self) -> pd.DataFrame:
        """The shards as a DataFrame (shard, tensors, GiB, dtypes, holds) with a closing total row.

        Example:
            >>> read_anatomy(select_model("tiny").source).table()["shard"].iloc[-1]   # doctest: +SKIP
            'total'
        """
        rows = [
            {
                "shard": r["shard"],
                "tensors": r["tensors"],
                "size (GiB)": round(gib(r["bytes"]), 3),
                "dtypes": ",".join(f"{k}×{v}" for k, v in r["dtypes"].items()),
                "holds": r["groups"],
            }
            for r in self.shard_rows()
        ]
        rows.append(
            {"shard": "total", "tensors": self.n_tensors, "size (GiB)": round(gib(self.total_bytes), 3)}
        )
        return frame(rows).fillna("")

    def figure(self, title: str | None = None):
        """Bar chart: GiB per shard, stacked by what it holds (vision, embeddings, layers, experts,
        lm_head)."""
        from matplotlib.figure import Figure

        kinds = ["vision", "embeddings", "attention/norms", "experts", "lm_head"]
        colours = ["#8172b3", "#55a868", "#4c72b0", "#dd8452", "#c44e52"]
        per: dict[str, Counter] = defaultdict(Counter)
        for t in self.tensors:
            kind = (
                ("experts" if t.is_expert else "attention/norms") if t.group.startswith("layer") else t.group
            )
            per[t.shard][kind if kind in kinds else "attention/norms"] += t.nbytes
        shards = self.shards
        fig = Figure(figsize=(8, 3.2), layout="constrained")
        ax = fig.add_subplot()
        bottom = [0.0] * len(shards)
        labels = [re.sub(r"^model-0*(\d+)-of-0*(\d+)\.safetensors$", r"\1/\2", s) for s in shards]
        for kind, colour in zip(kinds, colours, strict=True):
            vals = [per[s][kind] / GIB for s in shards]
            ax.bar(labels, vals, bottom=bottom, color=colour, label=kind)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_ylabel("GiB")
        ax.set_xlabel("shard")
        ax.set_title(
            title or f"{Path(self.source).name}: {self.n_tensors} tensors, {fmt_gib(self.total_bytes)}"
        )
        ax.legend(fontsize=8)
        return fig


def _compact(groups: list[str]) -> str:
    """'layer 0', 'layer 1', 'layer 2' -> 'layers 0-2'."""
    out, run = [], []
    for g in [*groups, ""]:
        if g.startswith("layer "):
            n = int(g.split()[1])
            if run and n == run[-1] + 1:
                run.append(n)
                continue
            if run:
                out.append(f"layers {run[0]}-{run[-1]}" if len(run) > 1 else f"layer {run[0]}")
            run = [n]
            continue
        if run:
            out.append(f"layers {run[0]}-{run[-1]}" if len(run) > 1 else f"layer {run[0]}")
            run = []
        if g:
            out.append(g)
    return ", ".join(out)


def read_anatomy(folder: str | Path) -> CheckpointAnatomy:
    """Read a checkpoint folder's index and every shard's header; never reads tensor data.

    Example:
        >>> a = read_anatomy(".cache/fixtures/tiny-moe")   # doctest: +SKIP
        >>> a.shard_rows()[0]["groups"]
        'lm_head'
    """
    from safetensors import safe_open

    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as err:
            raise AnatomyError(f"{index}: not a valid safetensors index ({err}); re-download it") from None
        files = sorted(set(weight_map.values()))
    elif (folder / "model.safetensors").is_file():
        weight_map, files = None, ["model.safetensors"]
    else:
        raise AnatomyError(
            f"{folder}: no model.safetensors.index.json or model.safetensors; point at a checkpoint folder"
        )
    tensors = []
    for name in files:
        path = folder / name
        if not path.is_file():
            raise AnatomyError(f"{folder}: the index names {name}, which is missing; download that shard")
        try:
            with safe_open(str(path), framework="pt") as f:
                for key in f.keys():
                    sl = f.get_slice(key)
                    shape, dtype = tuple(sl.get_shape()), sl.get_dtype()
                    nbytes = DTYPE_BYTES.get(dtype, 0) * math.prod(shape)
                    tensors.append(TensorEntry(key, shape, dtype, nbytes, name))
        except Exception as err:  # safetensors raises its own error types for truncated or bad headers
            raise AnatomyError(
                f"{path.name}: unreadable safetensors header ({err}); the file is damaged, re-download it"
            ) from None
    if weight_map is not None:
        stray = [t.name for t in tensors if weight_map.get(t.name) != t.shard]
        if stray:
            raise AnatomyError(
                f"{folder}: {len(stray)} tensors sit in a different shard than the index says "
                f"(e.g. {stray[0]}); re-download the index and shards together"
            )
    return CheckpointAnatomy(str(folder), tensors)


def release_transposed_keys(model: Any) -> list[str]:
    """Parameter name patterns that Transformers' conversion mapping transposes on load (release layout).

    Example:
        >>> release_transposed_keys(meta_model("data/configs/Qwen3-VL-30B-A3B-Instruct.json", "bfloat16"))
        ['mlp.experts.gate_up_proj', 'mlp.experts.down_proj']
    """
    from transformers.conversion_mapping import get_checkpoint_conversion_mapping
    from transformers.core_model_loading import Transpose

    patterns = []
    for conv in get_checkpoint_conversion_mapping(model.config.model_type) or []:
        if any(isinstance(op, Transpose) for op in getattr(conv, "operations", [])):
            patterns += list(conv.target_patterns)
    return patterns


def release_anatomy(
    config: str | Path | dict[str, Any],
    dtype: str = "bfloat16",
    max_shard_size: str = "5GB",
    model: Any = None,
) -> CheckpointAnatomy:
    """The checkpoint a release of this config holds: names, release-layout shapes, bytes, shards (derived).

    Shards are cut as `save_pretrained(max_shard_size=…)` would (huggingface_hub's splitter); the
    tensor names, shapes and bytes are exact, the shard boundaries are what that splitter gives.
    """
    from huggingface_hub import split_torch_state_dict_into_shards

    model = model if model is not None else meta_model(config, dtype)
    transposed = release_transposed_keys(model)
    state = model.state_dict()
    plan = split_torch_state_dict_into_shards(state, max_shard_size=max_shard_size)
    st_name = st_dtype(dtype)
    tensors = []
    for name, t in state.items():
        shape = tuple(t.shape)
        if any(p in name for p in transposed) and len(shape) == 3:
            shape = (shape[0], shape[2], shape[1])  # the release stores [E, H, 2I] / [E, I, H]
        nbytes = math.prod(shape) * DTYPE_BYTES.get(st_name, t.element_size())
        tensors.append(TensorEntry(name, shape, st_name, nbytes, plan.tensor_to_filename[name]))
    source = str(config) if not isinstance(config, dict) else config.get("_name_or_path", "config")
    return CheckpointAnatomy(source, tensors, derived=True)


def checkpoint_folder(source: str) -> Path:
    """The local folder of a model setting's source: the folder itself, or the Hub cache snapshot (offline).

    Example:
        >>> checkpoint_folder(select_model("tiny").source).name   # doctest: +SKIP
        'tiny-moe'
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(source, local_files_only=True, allow_patterns=["*.json", "*.safetensors"])
        )
    except Exception:
        raise AnatomyError(f"{source!r} is not downloaded here; run `hf download {source}` first") from None
