"""Plan device maps with the library's own planner on the meta model, check requests, and draw the result.

`plan_device_map` calls Transformers' `_get_device_map` (the function `from_pretrained` itself calls,
which uses accelerate's `get_balanced_memory` and `infer_auto_device_map`) on a meta model, so a plan for
"2xA100-80GB" costs no memory and no GPU. `check_request` refuses, before any weight is read, the
requests that would fail late or leave files behind: a device that does not exist, a `max_memory` in
which no device can hold one no-split layer, an `offload_folder` that is read-only or too small.

Example:
    >>> from helpers.estimate.census import meta_model
    >>> from helpers.core.hardware import parse_gpus
    >>> model = meta_model("data/configs/Qwen3-VL-30B-A3B-Instruct.json", "bfloat16")
    >>> plan = plan_for_hardware(model, parse_gpus("2xA100-80GB"), "balanced")
    >>> sorted(plan.bytes_per_device)
    [0, 1]
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.hardware import Hardware
from helpers.core.units import GIB, fmt_gib
from helpers.estimate.placement import (
    bytes_per_device,
    device_key,
    device_label,
    module_sizes,
    quiet_planner,
    to_bytes,
)

STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")
_DEVICE_COLOURS = {"cpu": "#dd8452", "disk": "#c44e52", "meta": "#8c8c8c"}
_GPU_COLOURS = ["#4c72b0", "#55a868", "#8172b3", "#64b5cd", "#937860", "#da8bc3", "#ccb974", "#2a9d8f"]


class DeviceMapError(WorkbookError, ValueError):
    """A device_map / max_memory / offload_folder request that cannot work; the message says what to
    change."""


def largest_no_split_layer(model: Any) -> tuple[str, int]:
    """(name, bytes) of the biggest module that a device map may not split (decoder layer, vision block)."""
    sizes = module_sizes(model)
    classes = set(getattr(model, "_no_split_modules", None) or [])
    best = ("", 0)
    for name, mod in model.named_modules():
        if type(mod).__name__ in classes and sizes.get(name, 0) > best[1]:
            best = (name, sizes[name])
    return best


def check_request(
    model: Any,
    device_map: Any = None,
    max_memory: dict[Any, Any] | None = None,
    offload_folder: str | Path | None = None,
    gpu_count: int | None = None,
    disk_bytes_needed: int | None = None,
) -> None:
    """Raise `DeviceMapError` (one line, what to change) for a request that cannot work; write nothing.

    `gpu_count` is the number of GPUs of the machine the request is for (default: this machine's).

    Example:
        >>> check_request(model, device_map={"": "cuda:3"}, gpu_count=1)   # doctest: +SKIP
        DeviceMapError: device_map names cuda:3 but this machine has 1 GPU(s) (0..0); …
    """
    import torch

    n_gpu = torch.cuda.device_count() if gpu_count is None else gpu_count
    gpus_text = f"{n_gpu} GPU(s)" + (f" (0..{n_gpu - 1})" if n_gpu else "")
    if isinstance(device_map, str) and device_map not in STRATEGIES:
        key = device_key(device_map)
        if not (key in ("cpu", "meta") or isinstance(key, int)):
            raise DeviceMapError(
                f"device_map={device_map!r} is neither a strategy ({', '.join(STRATEGIES)}) "
                "nor a device; use one of those, 'cpu', 'cuda:N' or a dict"
            )
        device_map = {"": key}
    named: list[Any] = []
    if isinstance(device_map, dict):
        named += [device_key(v) for v in device_map.values()]
        for v in named:
            if not (isinstance(v, int) or v in ("cpu", "disk", "meta")):
                raise DeviceMapError(
                    f"device_map value {v!r} is not a device; use an int / 'cuda:N', 'cpu' or 'disk'"
                )
    budgets = {device_key(k): to_bytes(v) for k, v in (max_memory or {}).items()}
    for dev in [*named, *budgets]:
        if isinstance(dev, int) and not 0 <= dev < n_gpu:
            raise DeviceMapError(
                f"device_map/max_memory names GPU {dev} but this machine has {gpus_text}; "
                "remove it or use 'cpu'"
            )
        if isinstance(dev, str) and dev not in ("cpu", "disk", "meta"):
            raise DeviceMapError(f"max_memory key {dev!r} is not a device; use GPU ints, 'cpu' or 'disk'")
    if budgets:
        layer, layer_bytes = largest_no_split_layer(model)
        compute = {d: b for d, b in budgets.items() if d not in ("disk", "meta")}
        if "cpu" not in compute:
            import psutil

            compute["cpu"] = (
                psutil.virtual_memory().available
            )  # what accelerate assumes when cpu is not given
        if compute and max(compute.values()) < layer_bytes:
            raise DeviceMapError(
                f"max_memory {_fmt_budgets(budgets)} cannot hold one "
                f"{type(model.get_submodule(layer)).__name__} ({fmt_gib(layer_bytes, 3)}) on any device; "
                f"give at least one device ≥ {fmt_gib(layer_bytes, 3)}"
            )
    if offload_folder is not None:
        check_offload_folder(offload_folder, disk_bytes_needed or 0)


def _fmt_budgets(budgets: dict[Any, int]) -> str:
    return "{" + ", ".join(f"{k!r}: {fmt_gib(v, 3)}" for k, v in budgets.items()) + "}"


def check_offload_folder(folder: str | Path, bytes_needed: int) -> None:
    """The folder (or its nearest existing parent) must be writable and have `bytes_needed` free; creates
    nothing."""
    path = Path(folder).expanduser().absolute()
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise DeviceMapError(
            f"offload_folder={str(folder)!r}: {probe} is a file, not a folder; choose a folder"
        )
    if not (os.access(probe, os.W_OK | os.X_OK) and _can_create_in(probe)):
        raise DeviceMapError(
            f"offload_folder={str(folder)!r} is not writable ({probe} is read-only for this user); "
            "choose a folder on a writable disk"
        )
    free = shutil.disk_usage(probe).free
    if free < bytes_needed:
        raise DeviceMapError(
            f"offload_folder={str(folder)!r}: its disk has {fmt_gib(free)} free but the "
            f"offloaded weights need {fmt_gib(bytes_needed)}; free space or choose another disk"
        )


def _can_create_in(folder: Path) -> bool:
    """Really try: root ignores permission bits, read-only mounts and pseudo file systems do not."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@dataclass
class DevicePlan:
    """A planned device map and the bytes it puts on each device."""

    strategy: str
    hardware: str
    device_map: dict[str, Any]
    bytes_per_device: dict[Any, int]

    def summary(self) -> str:
        parts = ", ".join(f"{device_label(d)} {fmt_gib(b, 1)}" for d, b in self.bytes_per_device.items())
        return f"{self.hardware}, {self.strategy}: {parts}"

    def row(self) -> dict[str, Any]:
        """One table row: hardware, strategy, then GiB placed on each device (a DataFrame takes a list)."""
        placed = {f"{device_label(d)} (GiB)": round(b / GIB, 1) for d, b in self.bytes_per_device.items()}
        return {"hardware": self.hardware, "strategy": self.strategy, **placed}


def plan_device_map(
    model: Any,
    device_map: str | dict[str, Any] = "auto",
    max_memory: dict[Any, Any] | None = None,
    gpu_count: int | None = None,
) -> dict[str, Any]:
    """What `from_pretrained(device_map=…, max_memory=…)` would place where, computed on the meta model.

    Uses Transformers' own `_get_device_map`; a dict is checked and returned as given.
    """
    from transformers.integrations.accelerate import _get_device_map

    check_request(model, device_map, max_memory, gpu_count=gpu_count)
    if isinstance(device_map, dict):
        return dict(device_map)
    budgets = {device_key(k): to_bytes(v) for k, v in max_memory.items()} if max_memory else None
    with quiet_planner():
        return dict(_get_device_map(model, device_map, budgets, None))


def plan_for_hardware(
    model: Any, hw: Hardware, strategy: str | dict[str, Any] = "auto", reserve_bytes: int = 0
) -> DevicePlan:
    """Plan for a profile of data/hardware.json (its usable GPU memory, 80% of its RAM for 'cpu')."""
    budgets = hw.max_memory(reserve_bytes)
    dm = plan_device_map(model, strategy, budgets, gpu_count=hw.count)
    name = strategy if isinstance(strategy, str) else "hand-written dict"
    return DevicePlan(name, hw.name, dm, bytes_per_device(model, dm))


def expand_to_blocks(model: Any, device_map: dict[str, Any]) -> list[tuple[str, int, Any]]:
    """(block, bytes, device) per placeable block in model order: vision, embeddings, each layer, norm,
    lm_head."""
    sizes = module_sizes(model)
    blocks = []
    classes = set(getattr(model, "_no_split_modules", None) or [])
    text_layers = [
        n for n, m in model.named_modules() if type(m).__name__ in classes and ".visual." not in f".{n}."
    ]
    visual = [n for n, _ in model.named_children()]  # top level: model, lm_head
    inner = model.get_submodule("model")
    candidates = [f"model.{n}" for n, _ in inner.named_children() if n != "language_model"]
    lm = model.get_submodule("model.language_model")
    for n, _ in lm.named_children():
        if n == "layers":
            candidates += text_layers
        else:
            candidates.append(f"model.language_model.{n}")
    candidates += [n for n in visual if n != "model"]

    def device_of(name: str) -> Any:
        best, dev = -1, None
        for key, d in device_map.items():
            if key == "" or name == key or name.startswith(key + "."):
                if len(key) > best:
                    best, dev = len(key), d
        if dev is None:  # the map splits this block further: take the device of most of its bytes
            parts = {k: d for k, d in device_map.items() if k.startswith(name + ".")}
            dev = max(parts.items(), key=lambda kv: sizes.get(kv[0], 0))[1] if parts else "?"
        return device_key(dev)

    for name in candidates:
        has_params = next(model.get_submodule(name).parameters(), None) is not None
        if sizes.get(name, 0) and has_params:  # buffer-only modules (rotary tables) are not drawn
            blocks.append((name, sizes[name], device_of(name)))
    return blocks


def device_map_figure(model: Any, plans: dict[str, dict[str, Any]], title: str = "where each block goes"):
    """One row per plan; each block is a cell as wide as its bytes, coloured by device."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(10, 0.55 * len(plans) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    seen: dict[str, str] = {}
    for row, dm in enumerate(plans.values()):
        x = 0.0
        for _name, nbytes, dev in expand_to_blocks(model, dm):
            colour = (
                _GPU_COLOURS[dev % len(_GPU_COLOURS)]
                if isinstance(dev, int)
                else _DEVICE_COLOURS.get(str(dev), "#444444")
            )
            seen[device_label(dev)] = colour
            w = nbytes / GIB
            ax.barh(row, w, left=x, color=colour, edgecolor="white", linewidth=0.4)
            x += w
    ax.set_yticks(range(len(plans)), list(plans))
    ax.invert_yaxis()
    ax.set_xlabel("GiB, blocks in model order (vision, embeddings, layers 0…N, norm, lm_head)")
    ax.set_title(title)
    ax.legend(
        handles=[Patch(color=c, label=n) for n, c in seen.items()],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    return fig
