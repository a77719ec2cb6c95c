"""A live memory monitor: a background thread samples host memory, torch's counters and every NVIDIA GPU.

Use it as a context manager around whatever loads or generates; mark phases from code. In a Jupyter
kernel it shows a plot that updates while the cell runs (an `ipywidgets.Image` whose value the
sampling thread sets, as the ipywidgets "Asynchronous widgets" guide documents: no `with out:` from a
thread), and when the block ends it replaces the widget with a static image, so headless runs and
saved notebooks keep the final plot. It stops its thread on normal exit, on error and on
KeyboardInterrupt.

Series (bytes): ``host`` (process RSS), ``uss`` (unique set size, when cheap to read),
``torch_allocated`` / ``torch_reserved`` (torch's CUDA caching allocator, summed over devices) and
``gpu0``, ``gpu1`` … (memory used on each NVIDIA GPU, read through nvitop).

Example:
    >>> with MemoryMonitor(interval_s=0.05, live=False) as mon:
    ...     with mon.phase("allocate"):
    ...         block = bytearray(50 * MIB)
    >>> mon.peak_bytes("host") > 50 * MIB
    True
    >>> [p.name for p in mon.phases]
    ['allocate']
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from helpers.core.environment import nvidia_devices
from helpers.core.units import GIB

FIRST_REDRAW_S = 0.25  # a live plot's first redraw; then every refresh_s
_PHASE_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


@dataclass
class Phase:
    """A named span of the monitored block, in seconds since the monitor started."""

    name: str
    start: float
    end: float | None = None


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class MemoryMonitor:
    """Sample memory in a background thread at `interval_s` (default 10 Hz) while the block runs.

    `live`: True shows the updating plot (needs a Jupyter kernel), False never displays anything,
    None (default) means "live when running inside a Jupyter kernel". `refresh_s` is how often the
    live plot is redrawn (drawing costs far more than sampling); the first redraw comes after at most
    FIRST_REDRAW_S, so a short cell still shows its plot move. `uss`: None reads the unique set size
    only as often as it stays cheap (under ~2% of the interval), True on every sample, False never.

    Example:
        >>> mon = MemoryMonitor(interval_s=0.1, live=False)
        >>> with mon:
        ...     with mon.phase("load"):
        ...         time.sleep(0.3)
        >>> len(mon.samples) >= 2
        True
    """

    def __init__(
        self,
        interval_s: float = 0.1,
        live: bool | None = None,
        refresh_s: float = 1.0,
        title: str = "memory",
        uss: bool | None = None,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0 seconds, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self.refresh_s = max(float(refresh_s), self.interval_s)
        self.title = title
        self.live = _in_kernel() if live is None else bool(live)
        self.samples: list[dict[str, float]] = []
        self.phases: list[Phase] = []
        self.errors: list[str] = []
        self._process = psutil.Process()
        self._gpus = nvidia_devices()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._uss_every = 1
        self._uss = uss  # None: read USS when cheap; True: every sample; False: never
        self._widget: Any = None
        self.redraws = 0  # live-plot updates sent from the sampling thread
        self.thread_cpu_s = 0.0  # CPU time the sampling thread itself used (its whole cost to the process)

    # -- sampling ---------------------------------------------------------------------------
    @property
    def series(self) -> list[str]:
        """Names of the sampled series, in column order (after `t`)."""
        names = ["host", "uss", "torch_allocated", "torch_reserved"]
        return names + [f"gpu{i}" for i in range(len(self._gpus))]

    def _read_uss(self) -> float:
        start = time.perf_counter()
        try:
            uss = float(self._process.memory_full_info().uss)
        except (psutil.Error, AttributeError, OSError):
            return math.nan
        cost = time.perf_counter() - start
        # "where cheap": keep reading USS costing under ~2% of the sampling interval on average
        self._uss_every = max(1, math.ceil(cost / (0.02 * self.interval_s)))
        return uss

    def sample(self, force_uss: bool = False) -> dict[str, float]:
        """Read every series once, now (the thread calls this; you may too)."""
        row: dict[str, float] = {"t": time.perf_counter() - self._t0}
        row["host"] = float(self._process.memory_info().rss)
        take_uss = force_uss and self._uss is not False
        take_uss = (
            take_uss or self._uss is True or (self._uss is None and len(self.samples) % self._uss_every == 0)
        )
        row["uss"] = self._read_uss() if take_uss else math.nan
        torch = sys.modules.get("torch")  # never import torch just to read it
        alloc = reserved = math.nan
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            n = torch.cuda.device_count()
            alloc = float(sum(torch.cuda.memory_allocated(i) for i in range(n)))
            reserved = float(sum(torch.cuda.memory_reserved(i) for i in range(n)))
        row["torch_allocated"], row["torch_reserved"] = alloc, reserved
        for i, dev in enumerate(self._gpus):
            try:
                used = dev.memory_used()
                row[f"gpu{i}"] = float(used) if isinstance(used, int) else math.nan
            except Exception:
                row[f"gpu{i}"] = math.nan
        return row

    def sample_now(self) -> None:
        """Record one sample immediately (thread-safe), e.g. at the edge of a phase; no-op when stopped."""
        if self._thread is None:
            return
        try:
            row = self.sample(force_uss=True)
        except Exception as err:
            self.errors.append(f"{type(err).__name__}: {err}")
            return
        with self._lock:
            self.samples.append(row)

    def _run(self) -> None:
        next_draw = time.perf_counter() + min(self.refresh_s, FIRST_REDRAW_S)
        while True:
            cpu0 = time.thread_time()
            try:
                row = self.sample()
                with self._lock:
                    self.samples.append(row)
                if self._widget is not None and time.perf_counter() >= next_draw:
                    self._widget.value = self._png()
                    self.redraws += 1
                    next_draw = time.perf_counter() + self.refresh_s
            except Exception as err:  # a failed read must not kill the monitor or the cell
                if len(self.errors) < 20:
                    self.errors.append(f"{type(err).__name__}: {err}")
            self.thread_cpu_s += time.thread_time() - cpu0
            if self._stop.wait(self.interval_s):
                break

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> MemoryMonitor:
        """Start the sampling thread (the `with` statement calls this)."""
        if self._thread is not None:
            raise RuntimeError("this MemoryMonitor is already running; use a new one per block")
        self._t0 = time.perf_counter()
        self._stop.clear()
        if self.live:
            self._show_widget()
        self._thread = threading.Thread(target=self._run, name="MemoryMonitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and join the thread, close open phases, take a last sample; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        with self._lock:
            self.samples.append(self.sample())
        end = self.samples[-1]["t"]
        for phase in self.phases:
            if phase.end is None:
                phase.end = end
        if self._widget is not None:
            self._finish_widget()

    def __enter__(self) -> MemoryMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        """Mark a phase ("load", "prefill", "decode" …) for the plot and the CSV.

        Example:
            >>> with MemoryMonitor(live=False) as mon, mon.phase("decode"):
            ...     pass
            >>> mon.phases[0].name
            'decode'
        """
        item = Phase(name, time.perf_counter() - self._t0)
        self.phases.append(item)
        self.sample_now()  # every phase gets a sample at each edge, however short it is
        try:
            yield item
        finally:
            self.sample_now()
            item.end = time.perf_counter() - self._t0

    # -- results ----------------------------------------------------------------------------
    def peak_bytes(self, series: str = "host", phase: str | None = None) -> int:
        """Highest sampled value of a series (optionally inside one phase); 0 when never read.

        `series`: host, uss, torch_allocated, torch_reserved, gpu0 …, or "gpu" (sum over GPUs).
        """
        rows = self._rows_in(phase)
        if series == "gpu":
            values = [
                sum(r.get(k, 0.0) for k in r if k.startswith("gpu") and not math.isnan(r[k])) for r in rows
            ]
        else:
            if series not in self.series:
                raise ValueError(f"unknown series {series!r}; choose one of {self.series + ['gpu']}")
            values = [r[series] for r in rows if not math.isnan(r.get(series, math.nan))]
        return int(max(values, default=0))

    def _rows_in(self, phase: str | None) -> list[dict[str, float]]:
        with self._lock:
            rows = sorted(
                self.samples, key=lambda r: r["t"]
            )  # phase-edge samples come from the caller's thread
        if phase is None:
            return rows
        spans = [(p.start, p.end if p.end is not None else math.inf) for p in self.phases if p.name == phase]
        if not spans:
            raise ValueError(f"no phase named {phase!r}; phases: {[p.name for p in self.phases]}")
        return [r for r in rows if any(a <= r["t"] <= b for a, b in spans)]

    def phase_of(self, t: float) -> str:
        """Name of the innermost phase open at time `t` ("" outside every phase)."""
        name = ""
        for p in self.phases:
            if p.start <= t <= (p.end if p.end is not None else math.inf):
                name = p.name
        return name

    def to_csv(self, path: str | Path) -> Path:
        """Write one row per sample: t, phase, every series in bytes (empty when not read)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cols = ["t", "phase", *self.series]
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(cols)
        for r in self._rows_in(None):
            values = ["" if math.isnan(r.get(c, math.nan)) else f"{r[c]:.0f}" for c in self.series]
            writer.writerow([f"{r['t']:.3f}", self.phase_of(r["t"]), *values])
        path.write_text(buf.getvalue())
        return path

    def figure(self, title: str | None = None):
        """A matplotlib Figure (no pyplot state): each series in GiB over time, phases shaded."""
        from matplotlib.figure import Figure

        rows = self._rows_in(None)
        fig = Figure(figsize=(8, 3.6), layout="constrained")
        ax = fig.add_subplot()
        t = [r["t"] for r in rows]
        styles = {
            "host": ("host RSS", "-"),
            "uss": ("host USS", ":"),
            "torch_allocated": ("torch allocated (CUDA)", "--"),
            "torch_reserved": ("torch reserved (CUDA)", "-."),
        }
        for key in self.series:
            pts = [
                (x, r[key] / GIB)
                for x, r in zip(t, rows, strict=True)
                if not math.isnan(r.get(key, math.nan))
            ]
            if not pts:
                continue
            label, style = styles.get(key, (f"{key} used (nvitop)", "-"))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label, lw=1.6)
        last = t[-1] if t else 0.0
        for i, p in enumerate(self.phases):
            colour = _PHASE_COLOURS[i % len(_PHASE_COLOURS)]
            end = p.end if p.end is not None else last
            depth = sum(
                1
                for q in self.phases
                if q is not p and q.start <= p.start and end <= (q.end if q.end is not None else last)
            )
            ax.axvspan(p.start, end, color=colour, alpha=0.15 if depth == 0 else 0.25, lw=0)
            y = 1.0 if depth == 0 else 0.97 - 0.07 * depth  # nested phases get their label inside the axes
            ax.text(
                (p.start + end) / 2,
                y,
                p.name,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom" if depth == 0 else "top",
                fontsize=8,
                color=colour,
            )
        ax.set_xlabel("seconds")
        ax.set_ylabel("GiB")
        ax.set_ylim(bottom=0)
        ax.set_title(title or self.title, pad=14)
        if ax.lines:
            ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
        return fig

    def _png(self) -> bytes:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = self.figure()
        canvas = FigureCanvasAgg(fig)
        buf = io.BytesIO()
        canvas.print_png(buf)
        return buf.getvalue()

    def save_png(self, path: str | Path) -> Path:
        """Write the figure as a PNG file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self._png())
        return path

    # -- live display -----------------------------------------------------------------------
    def _show_widget(self) -> None:
        try:
            import ipywidgets
            from IPython.display import display
        except ImportError:
            self.live = False
            return
        self._widget = ipywidgets.Image(format="png", value=self._png())
        display(self._widget)

    def _finish_widget(self) -> None:
        """Swap the live widget for a static image, which saved and headless notebooks keep."""
        from IPython.display import Image, display

        widget, self._widget = self._widget, None
        widget.close()
        display(Image(self._png()))
