"""Hardware profiles (data/hardware.json) and `--gpus` strings such as ``2xA100-80GB``.

`runtime_overhead_gib` (CUDA context, cuBLAS workspace, allocator slack) and `usable_fraction` are
documented assumptions, not measurements; change them in data/hardware.json for your stack.

Example:
    >>> hw = parse_gpus("2xA100-80GB")
    >>> hw.count, hw.gpu, round(hw.gpu_bytes / GIB)
    (2, 'A100-80GB', 80)
    >>> sorted(hw.max_memory())[:2]
    [0, 1]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.paths import DATA_DIR
from helpers.core.units import GIB

_SPEC = re.compile(r"^(?:(?P<count>\d+)\s*[x×]\s*)?(?P<gpu>[A-Za-z0-9.-]+)$")


@lru_cache(maxsize=1)
def load_profiles() -> dict[str, Any]:
    """The parsed data/hardware.json."""
    return json.loads((DATA_DIR / "hardware.json").read_text())


@dataclass(frozen=True)
class Hardware:
    """`count` GPUs of one kind plus the host's RAM and disk (bytes)."""

    gpu: str
    count: int
    gpu_bytes: int
    ram_bytes: int
    disk_bytes: int
    pcie_gbps: float
    usable_fraction: float
    runtime_overhead_bytes: int
    compute_capability: tuple[int, int]  # CUDA (major, minor): decides whether FP8 weights stay FP8

    @property
    def name(self) -> str:
        return f"{self.count}x{self.gpu}"

    def usable_gpu_bytes(self) -> int:
        """What one GPU can give to weights, KV cache and activations after the runtime overhead."""
        return int(self.gpu_bytes * self.usable_fraction) - self.runtime_overhead_bytes

    def max_memory(self, reserve_bytes: int = 0, cpu: bool = True) -> dict[Any, int]:
        """A `max_memory` dict for accelerate / `from_pretrained`, keeping `reserve_bytes` free per GPU."""
        per_gpu = max(self.usable_gpu_bytes() - reserve_bytes, 0)
        budget: dict[Any, int] = {i: per_gpu for i in range(self.count)}
        if cpu:
            budget["cpu"] = int(self.ram_bytes * 0.8)  # leave the OS and the Python process some room
        return budget


def parse_gpus(spec: str) -> Hardware:
    """Parse ``NxGPU`` (``N`` defaults to 1) against data/hardware.json; one-line error if unknown."""
    profiles = load_profiles()
    m = _SPEC.match(spec.strip())
    if not m or m.group("gpu") not in profiles["gpus"]:
        known = ", ".join(profiles["gpus"])
        raise WorkbookError(f"--gpus {spec!r}: write it as COUNTxGPU, e.g. 2xA100-80GB; known GPUs: {known}")
    count = int(m.group("count") or 1)
    if not 1 <= count <= 64:
        raise WorkbookError(f"--gpus {spec!r}: the count must be between 1 and 64")
    gpu = m.group("gpu")
    card, host = profiles["gpus"][gpu], profiles["hosts"][gpu]
    return Hardware(
        gpu=gpu,
        count=count,
        gpu_bytes=int(card["memory_gib"] * GIB),
        ram_bytes=int(host["ram_gib"] * GIB),
        disk_bytes=int(host["disk_gib"] * GIB),
        pcie_gbps=float(card["pcie_gbps"]),
        usable_fraction=float(profiles["usable_fraction"]),
        runtime_overhead_bytes=int(profiles["runtime_overhead_gib"] * GIB),
        compute_capability=(int(card["compute_capability"][0]), int(card["compute_capability"][1])),
    )
