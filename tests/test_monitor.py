"""The memory monitor samples, marks phases, exports, and never leaves its thread behind."""

from __future__ import annotations

import csv
import subprocess
import sys
import threading
import time

import nbformat
import pytest

from helpers.core.paths import ROOT
from helpers.load.monitor import MemoryMonitor


def _monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "MemoryMonitor"]


def test_samples_at_configured_rate_and_sees_an_allocation():
    with MemoryMonitor(interval_s=0.02, live=False) as mon:
        with mon.phase("idle"):
            time.sleep(0.3)
        with mon.phase("allocate"):
            block = b"\x01" * (200 * 2**20)  # written, so really resident
            time.sleep(0.3)
        del block
    # 0.6 s at 50 Hz: far more than 10 samples even on a busy shared machine
    assert len(mon.samples) >= 10
    gaps = sorted(b["t"] - a["t"] for a, b in zip(mon.samples, mon.samples[1:], strict=False))
    assert gaps[len(gaps) // 2] < 0.2  # median interval near the configured 0.02 s
    assert mon.peak_bytes("host", phase="allocate") - mon.peak_bytes("host", phase="idle") > 150 * 2**20
    assert mon.peak_bytes("uss") > 0
    assert [p.name for p in mon.phases] == ["idle", "allocate"]
    assert 0 < mon.thread_cpu_s < 0.5  # the sampler's own CPU time over 0.6 s at 50 Hz: small but real
    assert all(p.end is not None and p.end >= p.start for p in mon.phases)


def test_no_thread_left_after_error_or_keyboard_interrupt():
    before = _monitor_threads()
    with pytest.raises(ZeroDivisionError), MemoryMonitor(interval_s=0.01, live=False):
        time.sleep(0.05)
        1 / 0  # noqa: B018
    assert _monitor_threads() == before
    with pytest.raises(KeyboardInterrupt), MemoryMonitor(interval_s=0.01, live=False) as mon:
        with mon.phase("work"):
            raise KeyboardInterrupt
    assert _monitor_threads() == before
    assert mon.phases[0].end is not None  # the phase was closed by the interrupt
    mon.stop()  # a second stop is harmless


def test_running_thread_exists_only_inside_the_block():
    mon = MemoryMonitor(interval_s=0.01, live=False)
    with mon:
        assert len(_monitor_threads()) == 1
    assert _monitor_threads() == []
    with pytest.raises(RuntimeError):
        mon.start(), mon.start()
    mon.stop()


def test_csv_png_and_figure(tmp_path):
    with MemoryMonitor(interval_s=0.02, live=False) as mon, mon.phase("load"):
        time.sleep(0.1)
    path = mon.to_csv(tmp_path / "m.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(mon.samples)
    assert {"t", "phase", "host", "uss", "torch_allocated"} <= set(rows[0])
    assert any(r["phase"] == "load" for r in rows)
    assert int(rows[0]["host"]) > 0
    png = mon.save_png(tmp_path / "m.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = mon.figure()
    ax = fig.axes[0]
    assert ax.patches  # the shaded phase
    assert "host RSS" in [line.get_label() for line in ax.lines]


def test_bad_arguments():
    with pytest.raises(ValueError):
        MemoryMonitor(interval_s=0)
    mon = MemoryMonitor(live=False)
    with mon:
        pass
    with pytest.raises(ValueError, match="unknown series"):
        mon.peak_bytes("vram")
    with pytest.raises(ValueError, match="no phase"):
        mon.peak_bytes("host", phase="nope")


def test_no_nvml_error_printed_on_a_cpu_machine():
    """A fresh interpreter: import, sample, exit; nvitop must not print its red "NVML not found"."""
    code = (
        "from helpers.load.monitor import MemoryMonitor, nvidia_devices\n"
        "with MemoryMonitor(interval_s=0.01, live=False) as mon: pass\n"
        "print(len(nvidia_devices()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    if done.stdout.strip() == "0":  # no GPU here: nothing red for the learner
        assert "NVML" not in done.stderr and "FATAL" not in done.stderr, done.stderr


def test_live_plot_in_a_real_kernel_ends_as_a_static_image_and_stops_its_thread():
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import threading, time\n"
            "from helpers.load.monitor import MemoryMonitor\n"
            "mon = MemoryMonitor(interval_s=0.02, refresh_s=0.1)\n"
            "assert mon.live\n"
            "with mon, mon.phase('work'):\n"
            "    time.sleep(0.5)\n"
            "assert mon.redraws >= 2, mon.redraws\n"
            "print('threads', [t.name for t in threading.enumerate() if t.name == 'MemoryMonitor'])"
        )
    ]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = nb.cells[0].outputs
    kinds = [set(o.get("data", {})) for o in outputs]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds)  # the live widget
    assert any("image/png" in k for k in kinds)  # the static image that replaces it
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "threads []" in text
    assert not [o for o in outputs if o.get("output_type") == "error"]
