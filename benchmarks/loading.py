"""Streaming sharded safetensors vs the naive path: peak host memory over checkpoint bytes, and throughput.

Builds (once, cached in .cache/bench/) a random-weight Qwen3-VL-MoE checkpoint of the real class, saved
by `save_pretrained` in shards, plus the same state dict as ONE `torch.save` file. Each path then runs
in a fresh subprocess, so that its memory is its own; a MemoryMonitor samples RSS and USS every 20 ms:

- sharded: `AutoModelForImageTextToText.from_pretrained(folder)` (streams into a meta model);
- naive:   build the model (random init, full memory), `torch.load` the one file, `load_state_dict`;
- raw:     read the shard files into a reused buffer (the disk/page-cache ceiling for throughput).

Every path stops its clock only after every parameter has been read (Transformers 5 memory-maps
safetensors and returns before touching them). Paths are interleaved over repetitions; medians are
reported. The page cache is warm for all paths alike (we do not drop caches on a shared machine).

    .venv/bin/python benchmarks/loading.py --quick

Last line: ``RESULT {"sharded_peak_ratio": …, "naive_peak_ratio": …, "throughput_ratio": …}``
Targets: sharded_peak_ratio ≤ 1.15, throughput_ratio ≥ 0.3.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from helpers.core.units import GIB, MIB, fmt_gib  # noqa: E402

NAIVE_FILE = "state_dict.bin"  # the same weights as ONE torch.save file, beside the shards

WIDE = {
    "hidden_size": 1024,
    "moe_intermediate_size": 640,
    "intermediate_size": 1536,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 128,
}
SIZES = {  # bf16 weights: ~0.15 GiB (notebook), ~0.65 GiB (quick), ~1.6 GiB (full)
    "notebook": {
        "num_hidden_layers": 2,
        "num_experts": 4,
        "hidden_size": 256,
        "moe_intermediate_size": 160,
        "intermediate_size": 384,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 64,
    },
    "quick": {**WIDE, "num_hidden_layers": 2, "num_experts": 8},
    "full": {**WIDE, "num_hidden_layers": 12, "num_experts": 16},
}


def bench_config(size: str) -> dict:
    """The tiny fixture's config (the real 30B config, shrunk) grown to a few hundred MB–GB; experts
    non-square."""
    from helpers.core.fixtures import grown_config

    return grown_config("tiny-moe", {"num_experts_per_tok": 2, **SIZES[size]})


def is_built(folder: Path) -> bool:
    """Whether the cached checkpoint (shards and the one-file copy) is complete."""
    return (folder / "done").exists() and (folder / NAIVE_FILE).exists()


def build_checkpoint(size: str) -> Path:
    """Build once: <folder>/ sharded safetensors (save_pretrained) and <folder>/state_dict.bin (torch.save,
    one file).

    Both are written in one atomic folder: an interrupted build leaves nothing half-written.
    """
    import torch

    from helpers.core.fixtures import save_random_checkpoint
    from helpers.core.paths import CACHE_DIR

    folder = CACHE_DIR / "bench" / f"loading-{size}"
    if is_built(folder):
        return folder

    def one_file(model: Any, tmp: Path) -> None:
        torch.save(model.state_dict(), tmp / NAIVE_FILE)

    return save_random_checkpoint(
        bench_config(size),
        folder,
        max_shard_size="300MB",
        seed=0,
        processor=False,
        also=one_file,
        files={"done": "ok\n"},
    )


def checkpoint_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


# --- child side ---------------------------------------------------------------------------------
def child(path: str, folder: Path) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from helpers.load.loading import touch_parameters
    from helpers.load.monitor import MemoryMonitor

    torch.set_num_threads(1)
    # Transformers imports the model's modules lazily (seconds): do it before the clock, for every path
    import transformers.integrations.hub_kernels  # noqa: F401
    from transformers import Qwen3VLMoeForConditionalGeneration  # noqa: F401

    mon = MemoryMonitor(interval_s=0.02, live=False, uss=True)
    with mon:
        mon.sample_now()
        time.sleep(0.1)
        base_rss, base_uss = mon.samples[-1]["host"], mon.samples[-1]["uss"]
        with mon.phase(path):
            start = time.perf_counter()
            if path == "sharded":
                model = AutoModelForImageTextToText.from_pretrained(folder, dtype="auto")
                touched = touch_parameters(model)
            elif path == "naive":
                config = AutoConfig.from_pretrained(folder)
                model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
                state = torch.load(folder / NAIVE_FILE, weights_only=True)
                model.load_state_dict(state)
                touched = touch_parameters(model)
            else:  # raw: the ceiling, every byte of the shards read once
                buf = bytearray(16 * MIB)
                view = memoryview(buf)
                touched = 0
                for shard in sorted(folder.glob("*.safetensors")):
                    with open(shard, "rb", buffering=0) as fh:
                        while n := fh.readinto(view):
                            touched += n
            seconds = time.perf_counter() - start
    return {
        "path": path,
        "seconds": seconds,
        "bytes_read": touched,
        "peak_rss_added": mon.peak_bytes("host", phase=path) - base_rss,
        "peak_uss_added": mon.peak_bytes("uss", phase=path) - base_uss,
    }


def run_child(path: str, folder: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    done = subprocess.run(
        [sys.executable, __file__, "--child", path, "--folder", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{path} child failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    from helpers.core.paths import CACHE_DIR

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller checkpoint (~0.75 GiB), one repetition")
    parser.add_argument("--size", choices=sorted(SIZES), help="checkpoint size (default: quick or full)")
    parser.add_argument(
        "--reps", type=int, default=None, help="repetitions per path (default 1 quick, 3 full)"
    )
    parser.add_argument("--child", choices=["sharded", "naive", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.folder)))
        return 0
    size = args.size or ("quick" if args.quick else "full")
    reps = args.reps or (1 if args.quick else 3)
    t0 = time.perf_counter()
    built_now = not is_built(CACHE_DIR / "bench" / f"loading-{size}")
    folder = build_checkpoint(size)
    total = checkpoint_bytes(folder)
    print(
        f"checkpoint: {folder} ({fmt_gib(total)} in {len(list(folder.glob('*.safetensors')))} shards; "
        f"built/reused in {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    runs: dict[str, list[dict]] = {"raw": [], "sharded": [], "naive": []}
    if (
        not built_now
    ):  # freshly written files sit in the page cache; older ones are warmed once, for all paths alike
        run_child("raw", folder)
    for rep in range(reps):
        order = ["raw", "sharded", "naive"] if rep % 2 == 0 else ["naive", "sharded", "raw"]
        for path in order:
            r = run_child(path, folder)
            runs[path].append(r)
            print(
                f"rep {rep + 1} {path:8s} {r['seconds']:6.2f} s  peak RSS +{fmt_gib(r['peak_rss_added'])}  "
                f"USS +{fmt_gib(r['peak_uss_added'])}",
                flush=True,
            )

    def med(path: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[path])

    def peak(path: str) -> float:  # what the process holds: the larger of RSS and USS growth
        return statistics.median(max(r["peak_rss_added"], r["peak_uss_added"]) for r in runs[path])

    result = {
        "sharded_peak_ratio": round(peak("sharded") / total, 3),
        "naive_peak_ratio": round(peak("naive") / total, 3),
        "throughput_ratio": round(med("raw", "seconds") / med("sharded", "seconds"), 3),
        "sharded_s": round(med("sharded", "seconds"), 3),
        "naive_s": round(med("naive", "seconds"), 3),
        "raw_s": round(med("raw", "seconds"), 3),
        "sharded_gib_per_s": round(total / med("sharded", "seconds") / GIB, 3),
        "raw_gib_per_s": round(total / med("raw", "seconds") / GIB, 3),
        "checkpoint_gib": round(total / GIB, 3),
        "reps": reps,
        "targets": "sharded_peak_ratio <= 1.15, throughput_ratio >= 0.3",
    }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
