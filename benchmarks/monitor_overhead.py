"""How much does the memory monitor slow down the work it watches?

Times a CPU-bound workload (pure Python, so it competes with the sampling thread for the GIL) with and
without `MemoryMonitor` sampling at 10 Hz, interleaved (off, on, on, off …), and reports the median of the
per-pair ratios. `overhead_fraction` uses the process's CPU time (`time.process_time`: the workload's and
the monitor thread's CPU, which is what the monitor adds), because wall time on a shared machine mostly
measures the other processes; `wall_overhead_fraction` reports the wall-clock ratio beside it, and
`sampler_cpu_fraction` the sampling thread's own CPU time per second (`time.thread_time`), a direct,
low-noise measure of what the monitor adds.

    .venv/bin/python benchmarks/monitor_overhead.py --quick

Last line: ``RESULT {"overhead_fraction": …}`` (target ≤ 0.01).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.load.monitor import MemoryMonitor  # noqa: E402


def workload(n: int) -> int:
    """Pure-Python integer arithmetic: holds the GIL the whole time."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


sampler_cpu: list[float] = []  # the sampling thread's own CPU time per wall second, per monitored run


def timed(n: int, monitored: bool, interval_s: float) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, samples taken) of one workload run."""
    if monitored:
        with MemoryMonitor(interval_s=interval_s, live=False) as mon:
            wall, cpu = time.perf_counter(), time.process_time()
            workload(n)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sampler_cpu.append(mon.thread_cpu_s / wall)
        return wall, cpu, len(mon.samples)
    wall, cpu = time.perf_counter(), time.process_time()
    workload(n)
    return time.perf_counter() - wall, time.process_time() - cpu, 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    parser.add_argument("--interval", type=float, default=0.1, help="sampling interval in seconds (10 Hz)")
    args = parser.parse_args(argv)
    pairs, n = (10, 8_000_000) if args.quick else (20, 16_000_000)
    workload(n // 10)  # warm-up
    ratios, wall_ratios, off, on, samples = [], [], [], [], []
    for i in range(pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        got, wall = {}, {}
        for monitored in order:
            wall[monitored], got[monitored], count = timed(n, monitored, args.interval)
            if monitored:
                samples.append(count)
        off.append(got[False])
        on.append(got[True])
        ratios.append(got[True] / got[False])
        wall_ratios.append(wall[True] / wall[False])
        print(
            f"pair {i + 1:2d}: cpu off {got[False]:.3f} s  on {got[True]:.3f} s  ratio {ratios[-1]:.4f}"
            f"  (wall ratio {wall_ratios[-1]:.4f})",
            flush=True,
        )
    result = {
        "overhead_fraction": round(statistics.median(ratios) - 1.0, 4),
        "wall_overhead_fraction": round(statistics.median(wall_ratios) - 1.0, 4),
        "median_off_cpu_s": round(statistics.median(off), 4),
        "median_on_cpu_s": round(statistics.median(on), 4),
        "sampler_cpu_fraction": round(statistics.median(sampler_cpu), 5),
        "pairs": pairs,
        "interval_s": args.interval,
        "median_samples_per_run": statistics.median(samples),
        "target": "overhead_fraction <= 0.01",
    }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
