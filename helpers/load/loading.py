"""Load a Qwen3-VL checkpoint through the real Transformers path, and refuse silent random weights.

Transformers 5 does not fail on missing, unexpected or mismatched weights: it logs a report and keeps
random values. `load_model` asks for that report (`output_loading_info=True`) and raises a readable
`LoadingReportError` when it is not empty.

Example:
    >>> from helpers.core.model import select_model
    >>> model, processor, report = load_model(select_model("tiny"))
    >>> report.is_clean
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from helpers.core.errors import LoadingReportError
from helpers.core.model import ModelChoice, select_model
from helpers.core.tables import frame, to_text
from helpers.core.units import fmt_gib


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Transformers' own log (its load report, warnings) off for a block: callers read the report themselves.

    Example:
        >>> with quiet_transformers():
        ...     pass
    """
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)


@dataclass
class LoadingReport:
    """The loading report of one `from_pretrained` call, as sets of parameter names."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> LoadingReport:
        mismatched = [k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", [])]
        return cls(
            missing=sorted(info.get("missing_keys", [])),
            unexpected=sorted(info.get("unexpected_keys", [])),
            mismatched=sorted(mismatched),
            errors=list(info.get("error_msgs", [])),
        )

    @property
    def is_clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.errors)

    def table(self, limit: int = 5) -> pd.DataFrame:
        """A DataFrame: kind, count, the first `limit` names.

        Example:
            >>> LoadingReport(missing=["a.weight"]).table()["count"].tolist()
            [1, 0, 0]
        """
        rows = [("missing", self.missing), ("unexpected", self.unexpected), ("mismatched", self.mismatched)]
        return frame(
            {
                "kind": kind,
                "count": len(names),
                "examples": ", ".join(names[:limit]) + (" …" if len(names) > limit else ""),
            }
            for kind, names in rows
        )

    def raise_if_unclean(self, source: str) -> None:
        if not self.is_clean:
            raise LoadingReportError(
                f"{source} loaded with weights that would be RANDOM "
                f"({len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                f"{len(self.mismatched)} mismatched); diagnose it with "
                f"`qwen3vl doctor diagnose {source}`\n{to_text(self.table())}"
            )


def load_strict(source: str, **from_pretrained_kwargs: Any):
    """`AutoModelForImageTextToText.from_pretrained(source, …)` that raises on a non-empty loading report.

    Returns (model, LoadingReport). Every keyword goes to `from_pretrained` unchanged
    (dtype, device_map, max_memory, offload_folder, key_mapping …).

    Example:
        >>> model, report = load_strict(select_model("tiny").source)
        >>> type(model).__name__
        'Qwen3VLMoeForConditionalGeneration'
    """
    from transformers import AutoModelForImageTextToText

    from_pretrained_kwargs.setdefault("dtype", "auto")
    model, info = AutoModelForImageTextToText.from_pretrained(
        source, output_loading_info=True, **from_pretrained_kwargs
    )
    report = LoadingReport.from_info(info)
    report.raise_if_unclean(source)
    return model.eval(), report


def load_model(choice: ModelChoice | str, **from_pretrained_kwargs: Any):
    """Load model and processor of a `ModelChoice` (or a setting, resolved by `select_model`);
    returns (model, processor, LoadingReport). A config file has no weights: ModelSelectionError."""
    from transformers import AutoProcessor

    choice = select_model(choice)

    model, report = load_strict(choice.source, **from_pretrained_kwargs)
    processor = AutoProcessor.from_pretrained(choice.source)
    return model, processor, report


@dataclass
class LoadMeasurement:
    """What one measured load cost: wall time until every parameter was read, memory peaks, placement."""

    seconds: float
    peak_host_bytes: int
    peak_uss_bytes: int
    peak_gpu_bytes: int
    hf_device_map: dict[str, Any] | None
    report: LoadingReport
    devices: dict[str, int] = field(
        default_factory=dict
    )  # parameter bytes per device type (cpu, cuda:0, meta …)

    def summary(self) -> str:
        where = ", ".join(f"{d} {fmt_gib(b, 3)}" for d, b in self.devices.items())
        return (
            f"{self.seconds:.2f} s until every parameter was read; "
            f"peak host RSS {fmt_gib(self.peak_host_bytes, 3)}, USS {fmt_gib(self.peak_uss_bytes, 3)}, "
            f"GPU {fmt_gib(self.peak_gpu_bytes, 3)}; "
            f"parameters: {where}"
        )


def touch_parameters(model: Any) -> int:
    """Read one value per 4 KiB page of every materialised parameter (memory-mapped weights load lazily).

    Offloaded parameters (on the meta device, behind accelerate's hooks) are skipped. Returns bytes touched.
    """
    import torch

    touched = 0
    with torch.no_grad():
        for p in model.parameters():
            if p.device.type == "meta":
                continue
            flat = p.detach().reshape(-1)
            step = max(1, 4096 // p.element_size())
            flat[::step].float().sum().item()
            touched += p.numel() * p.element_size()
    return touched


def load_measured(source: ModelChoice | str, monitor: Any = None, **from_pretrained_kwargs: Any):
    """`load_strict` with checks first and measurements: returns (model, LoadMeasurement).

    Before any weight is read, the request (device_map, max_memory, offload_folder) is checked on a
    meta model by `helpers.load.device_maps.check_request`. The clock stops only after every parameter has
    been read (`touch_parameters`), because Transformers 5 returns memory-mapped weights lazily.
    Pass a running `helpers.load.monitor.MemoryMonitor` to get its "load" phase; otherwise one is run here.

    Example:
        >>> model, m = load_measured(select_model("tiny").source, device_map="cpu")
        >>> m.report.is_clean, m.seconds > 0
        (True, True)
    """
    import time
    from contextlib import nullcontext
    from pathlib import Path

    from helpers.estimate.census import meta_model
    from helpers.estimate.placement import bytes_per_device
    from helpers.load.device_maps import check_offload_folder, check_request, plan_device_map
    from helpers.load.monitor import MemoryMonitor

    if isinstance(source, ModelChoice):
        source = source.source
    config = Path(source) / "config.json"
    if config.is_file():
        meta = meta_model(config, "bfloat16")
        device_map = from_pretrained_kwargs.get("device_map")
        max_memory = from_pretrained_kwargs.get("max_memory")
        folder = from_pretrained_kwargs.get("offload_folder")
        if (
            folder is not None and device_map is not None
        ):  # plan (it checks the request), then size the folder
            planned = plan_device_map(meta, device_map, max_memory)
            check_offload_folder(folder, bytes_per_device(meta, planned).get("disk", 0))
        else:
            check_request(meta, device_map, max_memory, folder)
    own = monitor is None
    mon = MemoryMonitor(interval_s=0.05, live=False) if own else monitor
    with mon if own else nullcontext(), mon.phase("load"):
        start = time.perf_counter()
        model, report = load_strict(source, **from_pretrained_kwargs)
        touch_parameters(model)
        seconds = time.perf_counter() - start
    devices: dict[str, int] = {}
    for p in model.parameters():
        devices[str(p.device)] = devices.get(str(p.device), 0) + p.numel() * p.element_size()
    return model, LoadMeasurement(
        seconds=seconds,
        peak_host_bytes=mon.peak_bytes("host", phase="load"),
        peak_uss_bytes=mon.peak_bytes("uss", phase="load"),
        peak_gpu_bytes=mon.peak_bytes("gpu", phase="load"),
        hf_device_map=getattr(model, "hf_device_map", None),
        report=report,
        devices=devices,
    )
