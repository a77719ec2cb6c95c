"""What this machine has: Python, libraries, GPUs, RAM, disk, the Hugging Face cache and offline mode.

`missing_requirements()` runs without importing torch or transformers, so notebook 00's first cell can
say what to install, one line each, before anything heavy fails.

Example:
    >>> missing_requirements()
    []
    >>> report = environment_report()
    >>> report["transformers"].startswith("5.")
    True
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from helpers.core.units import GIB, fmt_gib

MIN_PYTHON = (3, 11)
# package -> (minimum major.minor, why it is needed)
REQUIRED = {
    "torch": ((2, 6), "the tensors; weights_only=True loading is the default from 2.6"),
    "torchvision": ((0, 21), "Qwen3VLProcessor's video processor imports it"),
    "transformers": ((5, 0), "Qwen3-VL classes, AutoModelForImageTextToText, the chat template"),
    "accelerate": ((1, 0), "device maps and offload"),
    "safetensors": ((0, 4), "sharded checkpoints"),
}


def _version_tuple(text: str) -> tuple[int, int]:
    parts = (text.split("+")[0].split(".") + ["0"])[:2]
    return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts)  # type: ignore[return-value]


def missing_requirements() -> list[str]:
    """One line per unmet requirement, each saying what to install; empty when all is well.

    Example:
        >>> all(line.startswith("install") or line.startswith("use") for line in missing_requirements())
        True
    """
    lines = []
    if sys.version_info[:2] < MIN_PYTHON:
        lines.append(
            f"use Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer (this is {platform.python_version()})"
        )
    for package, (minimum, why) in REQUIRED.items():
        try:
            have = md.version(package)
        except md.PackageNotFoundError:
            lines.append(f"install {package}>={minimum[0]}.{minimum[1]}: `make venv` does it ({why})")
            continue
        if _version_tuple(have) < minimum:
            lines.append(f"install {package}>={minimum[0]}.{minimum[1]} (found {have}; needed for {why})")
    return lines


def nvidia_devices() -> list[Any]:
    """Every NVIDIA GPU as an nvitop `Device`; [] on a machine without NVML, and no red log line.

    nvitop logs a red "FATAL ERROR: NVML not found" at CRITICAL level when the driver library is
    missing, the normal state of a CPU machine, and resets its logger's level when imported: so
    import first, then disable that logger.

    Example:
        >>> isinstance(nvidia_devices(), list)
        True
    """
    try:
        from nvitop import Device
    except ImportError:
        return []
    logging.getLogger("nvitop.api.libnvml").disabled = True
    try:
        return list(Device.all())
    except Exception:  # no NVML, a driver mismatch: all mean "no GPU we can read"
        return []


def gpu_devices() -> list[dict[str, Any]]:
    """NVIDIA GPUs seen through nvitop (name, total and used bytes); [] when there are none."""
    return [
        {"index": d.index, "name": d.name(), "total_bytes": d.memory_total(), "used_bytes": d.memory_used()}
        for d in nvidia_devices()
    ]


def gpu_summary() -> str:
    """One calm line per GPU, or a single 'no NVIDIA GPU found' line."""
    gpus = gpu_devices()
    if not gpus:
        return (
            "no NVIDIA GPU found: everything runs on the CPU (fine for the tiny model and meta-device plans)"
        )
    return "\n".join(
        f"GPU {g['index']}: {g['name']}, {fmt_gib(g['total_bytes'], 1)}, {fmt_gib(g['used_bytes'], 1)} used"
        for g in gpus
    )


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder this process would use."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def environment_report() -> dict[str, Any]:
    """Versions, devices, memory, disk, cache and offline mode as a flat dict (values are strings)."""
    import psutil

    from helpers.core.paths import CACHE_DIR

    report: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for package in list(REQUIRED) + ["nvitop"]:
        try:
            report[package] = md.version(package)
        except md.PackageNotFoundError:
            report[package] = "not installed"
    gpus = gpu_devices()
    report["gpus"] = ", ".join(g["name"] for g in gpus) if gpus else "none (CPU only)"
    report["cpu_cores"] = str(os.cpu_count())
    report["ram_total_gib"] = f"{psutil.virtual_memory().total / GIB:.1f}"
    report["ram_available_gib"] = f"{psutil.virtual_memory().available / GIB:.1f}"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    report["disk_free_gib"] = f"{shutil.disk_usage(CACHE_DIR).free / GIB:.1f}"
    report["hf_cache"] = str(hf_cache_dir())
    report["hf_hub_offline"] = os.environ.get("HF_HUB_OFFLINE", "0")
    return report
