"""Where each layer goes on given hardware, planned by accelerate itself on the meta model.

`plan_placement` builds the real model on the meta device, keeps room on every GPU for the KV cache,
activations and runtime overhead of the job (from `estimate_peak_memory`), asks accelerate's
`get_balanced_memory` + `infer_auto_device_map` (with the model's `_no_split_modules`, as
`from_pretrained(device_map="auto")` does), and totals the bytes per device.

Transfer per token: accelerate's offload hooks move a whole offloaded module to the GPU for every
forward pass, so every byte on "cpu" crosses PCIe and every byte on "disk" is read, once per decoded
token. A fused MoE expert tensor moves entirely even though a token uses only top-k of its experts;
`transfer_active_bytes_per_token` gives the lower bound a top-k-aware offloader could reach.

Example:
    >>> plan = plan_placement("data/configs/Qwen3-VL-30B-A3B-Instruct.json", "1xA100-80GB")
    >>> sorted(plan.bytes_by_device)[:1], plan.fits
    (['cpu'], False)
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from helpers.core.hardware import Hardware, parse_gpus
from helpers.core.model import model_config
from helpers.core.units import fmt_gib
from helpers.estimate.census import QUANTISED, canonical_dtype, component_of, meta_model


@dataclass
class Placement:
    """accelerate's device map for the job and what it implies."""

    hardware: str
    dtype: str
    device_map: dict[str, Any]
    bytes_by_device: dict[str, int]
    reserve_per_gpu_bytes: int
    transfer_bytes_per_token: int
    transfer_active_bytes_per_token: int
    seconds_per_token_transfer: float
    fits: bool
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (no per-module map)."""
        return {
            "hardware": self.hardware,
            "dtype": self.dtype,
            "bytes_by_device": self.bytes_by_device,
            "gpu_bytes": sum(v for k, v in self.bytes_by_device.items() if k not in ("cpu", "disk")),
            "cpu_bytes": self.bytes_by_device.get("cpu", 0),
            "disk_bytes": self.bytes_by_device.get("disk", 0),
            "reserve_per_gpu_bytes": self.reserve_per_gpu_bytes,
            "transfer_bytes_per_token": self.transfer_bytes_per_token,
            "transfer_active_bytes_per_token": self.transfer_active_bytes_per_token,
            "seconds_per_token_transfer": round(self.seconds_per_token_transfer, 4),
            "fits": self.fits,
            "modules_placed": len(self.device_map),
            "notes": self.notes,
        }


def _accelerate_dtypes(model: Any, dtype: str) -> tuple[Any, dict[str, Any]]:
    """(dtype, special_dtypes) for accelerate: quantised parts at their width, the rest bf16."""
    import torch
    from accelerate.utils.dataclasses import CustomDtype

    plain = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype in plain:
        return plain[dtype], {}
    width = {"fp8": CustomDtype.FP8, "int8": torch.int8, "int4": CustomDtype.INT4}[dtype]
    special = {
        n: torch.bfloat16
        for n, p in model.named_parameters()
        if component_of(n) not in QUANTISED or p.dim() < 2
    }
    return width, special


def plan_placement(
    model: Any, gpus: str | Hardware, estimate: Any = None, dtype: str | None = None
) -> Placement:
    """Plan with accelerate for `gpus` (e.g. "2xA100-80GB"), reserving the job's KV + activations per GPU.

    Example:
        >>> plan_placement("tiny", "1xT4-16GB").bytes_by_device.keys() == {"0"}
        True
    """
    from accelerate.utils import compute_module_sizes, get_balanced_memory, infer_auto_device_map

    hw = parse_gpus(gpus) if isinstance(gpus, str) else gpus
    cfg = model_config(model)
    if estimate is None:
        from helpers.estimate.memory import estimate_peak_memory

        estimate = estimate_peak_memory(cfg, dtype or "bfloat16")
    dtype = canonical_dtype(dtype or estimate.dtype)
    meta = meta_model(cfg)
    acc_dtype, special = _accelerate_dtypes(meta, dtype)
    # the hardware budget already leaves the runtime overhead out; on CUDA reserve only what the estimate
    # adds to it
    slack = estimate.overhead_bytes - (
        hw.runtime_overhead_bytes if estimate.device == "cuda" else estimate.overhead_bytes
    )
    reserve = int(estimate.kv_cache_bytes / hw.count + estimate.activation_bytes + max(slack, 0))
    budget = hw.max_memory(reserve_bytes=reserve)
    no_split = list(meta._no_split_modules or [])
    with (
        quiet_planner()
    ):  # "Device 0 is not available" (no GPU here) and the tie_weights hint are noise for a plan
        if hw.count > 1:
            budget = get_balanced_memory(
                meta,
                max_memory=budget,
                no_split_module_classes=no_split,
                dtype=acc_dtype,
                special_dtypes=special or None,
            )
        device_map = infer_auto_device_map(
            meta,
            max_memory=budget,
            no_split_module_classes=no_split,
            dtype=acc_dtype,
            special_dtypes=special or None,
        )
    sizes = compute_module_sizes(meta, dtype=acc_dtype, special_dtypes=special or None)
    by_device = {str(k): int(v) for k, v in bytes_per_device(meta, device_map, sizes).items()}
    experts_off = 0
    for name, dev in device_map.items():
        if str(dev) in ("cpu", "disk"):
            experts_off += sum(
                int(v)
                for n, v in sizes.items()
                if n.endswith("mlp.experts") and (n.startswith(name + ".") or n == name or not name)
            )
    off = by_device.get("cpu", 0) + by_device.get("disk", 0)
    t = cfg["text_config"]
    share = t.get("num_experts_per_tok", 1) / t["num_experts"] if t.get("num_experts") else 1.0
    active_off = int(off - experts_off * (1 - share))
    gbps = hw.pcie_gbps * 1e9
    seconds = (
        by_device.get("cpu", 0) / gbps + by_device.get("disk", 0) / 2e9
    )  # disk: ~2 GB/s NVMe, an assumption
    fits = off == 0
    notes = []
    if dtype in ("fp8", "int8", "int4"):
        notes.append("quantisation scales are not in accelerate's sizes (a few % of the quantised bytes)")
    if by_device.get("disk"):
        notes.append("part of the model lands on disk: from_pretrained needs offload_folder= for the MoE")
    if not fits:
        notes.append(f"offloaded weights cross PCIe every token: {fmt_gib(off, 1)}/token")
    return Placement(
        hw.name,
        dtype,
        {k: str(v) for k, v in device_map.items()},
        by_device,
        reserve,
        off,
        active_off,
        seconds,
        fits,
        notes,
    )


@contextmanager
def quiet_planner() -> Iterator[None]:
    """accelerate's notes while planning for hardware this machine lacks ("Device 0 is not available", the
    tie_weights hint) are expected in a plan: silence them for the block."""
    loggers = [logging.getLogger(n) for n in ("accelerate", "accelerate.utils.modeling")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels, strict=True):
            lg.setLevel(lvl)


def to_bytes(value: int | str) -> int:
    """'10GiB' / '500MB' / 123 -> bytes, with accelerate's own parser."""
    from accelerate.utils import convert_file_size_to_int

    return int(convert_file_size_to_int(value))


def module_sizes(model: Any) -> dict[str, int]:
    """Bytes of every module (accelerate's `compute_module_sizes`, dtype-aware, works on meta)."""
    from accelerate.utils import compute_module_sizes

    return dict(compute_module_sizes(model))


def bytes_per_device(
    model: Any, device_map: dict[str, Any], sizes: dict[str, int] | None = None
) -> dict[Any, int]:
    """Sum the bytes each device receives under a device map (ordered: GPUs, cpu, disk).

    `sizes` (module name -> bytes) defaults to `module_sizes(model)`; pass accelerate's sizes for another
    dtype.
    """
    sizes = module_sizes(model) if sizes is None else sizes
    totals: dict[Any, int] = {}
    for name, dev in device_map.items():
        key = device_key(dev)
        totals[key] = totals.get(key, 0) + sizes.get(name, 0)
    order = sorted(
        totals, key=lambda d: (0, d) if isinstance(d, int) else (1, ["cpu", "disk", "meta"].index(d))
    )
    return {d: totals[d] for d in order}


def device_key(dev: Any) -> Any:
    """Normalise 'cuda:1' / torch.device / 1 -> 1; 'cpu' / 'disk' / 'meta' stay strings."""
    text = str(dev)
    if isinstance(dev, int):
        return dev
    m = re.fullmatch(r"cuda:(\d+)", text)
    if m:
        return int(m.group(1))
    if text == "cuda":
        return 0
    return text


def device_label(dev: Any) -> str:
    return f"GPU {dev}" if isinstance(dev, int) else str(dev)
