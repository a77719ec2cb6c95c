"""How much does the memory monitor slow down the work it watches?

Times a CPU-bound workload (pure Python, so it competes with the sampling thread for the GIL) with and
without `MemoryMonitor` sampling at 10 Hz, interleaved (off, on, on, off …) so that load from other
processes hits both arms alike, and reports the median of the per-pair ratios.

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

from helpers.monitor import MemoryMonitor  # noqa: E402


def workload(n: int) -> int:
    """Pure-Python integer arithmetic: holds the GIL the whole time."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


def timed(n: int, monitored: bool, interval_s: float) -> tuple[float, int]:
    if monitored:
        with MemoryMonitor(interval_s=interval_s, live=False) as mon:
            start = time.perf_counter()
            workload(n)
            seconds = time.perf_counter() - start
        return seconds, len(mon.samples)
    start = time.perf_counter()
    workload(n)
    return time.perf_counter() - start, 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    parser.add_argument("--interval", type=float, default=0.1, help="sampling interval in seconds (10 Hz)")
    args = parser.parse_args(argv)
    pairs, n = (6, 12_000_000) if args.quick else (16, 20_000_000)
    workload(n // 10)  # warm-up
    ratios, off, on, samples = [], [], [], []
    for i in range(pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        got = {}
        for monitored in order:
            got[monitored], count = timed(n, monitored, args.interval)
            if monitored:
                samples.append(count)
        off.append(got[False])
        on.append(got[True])
        ratios.append(got[True] / got[False])
        print(f"pair {i + 1:2d}: off {got[False]:.3f} s  on {got[True]:.3f} s  ratio {ratios[-1]:.4f}", flush=True)
    result = {
        "overhead_fraction": round(statistics.median(ratios) - 1.0, 4),
        "median_off_s": round(statistics.median(off), 4),
        "median_on_s": round(statistics.median(on), 4),
        "pairs": pairs,
        "interval_s": args.interval,
        "median_samples_per_run": statistics.median(samples),
        "target": "overhead_fraction <= 0.01",
    }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
