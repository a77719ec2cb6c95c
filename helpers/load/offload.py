"""Offload really run: accelerate's disk and CPU offload, timed (quantisation coverage: `quantisation`).

`offload_sweep` loads one random-weight checkpoint several times through `from_pretrained(device_map="auto",
max_memory=…, offload_folder=…)`, each time with a smaller budget on the main device, and times greedy
decoding: on a GPU machine the overflow goes to the CPU, on a CPU-only machine (no GPU to offload from)
it goes to disk — accelerate's hooks then read those layers back for every forward pass.

Example:
    >>> runs = offload_sweep(str(build_offload_checkpoint()), [1.0, 0.5], new_tokens=2)   # doctest: +SKIP
    >>> runs[-1].offloaded_fraction > 0                                                    # doctest: +SKIP
    True
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core.units import GIB, tokens_per_s

# A MoE of the real class, big enough that offloaded layers cost measurable time (~0.6 GiB bf16).
OFFLOAD_TEXT = {
    "hidden_size": 512,
    "moe_intermediate_size": 768,
    "intermediate_size": 1536,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 64,
    "num_experts": 16,
    "num_experts_per_tok": 2,
}


def build_offload_checkpoint(dest: Path | None = None) -> Path:
    """Build once (cached) a random-weight Qwen3-VL-MoE checkpoint of ~0.6 GiB; RANDOM weights, noise
    output."""
    from helpers.core.fixtures import grown_config, save_random_checkpoint
    from helpers.core.paths import CACHE_DIR

    dest = Path(dest) if dest else CACHE_DIR / "offload" / "moe-offload"
    if (dest / "done").exists():
        return dest
    return save_random_checkpoint(
        grown_config("tiny-moe", OFFLOAD_TEXT),
        dest,
        max_shard_size="200MB",
        seed=0,
        files={"done": "random weights\n"},
    )


@dataclass
class OffloadRun:
    """One load + decode with part of the model offloaded."""

    budget_bytes: int | None
    main_device: str
    offload_device: str
    bytes_by_device: dict[str, int]
    offloaded_fraction: float
    load_seconds: float
    new_tokens: int
    decode_seconds: float
    peak_host_bytes: int

    @property
    def tokens_per_s(self) -> float:
        return tokens_per_s(self.new_tokens, self.decode_seconds)


def _bytes_by_device(model: Any) -> dict[str, int]:
    from helpers.estimate.placement import bytes_per_device

    dm = getattr(model, "hf_device_map", None) or {"": "cpu"}
    return {str(k): v for k, v in bytes_per_device(model, dm).items()}


def offload_run(
    source: str,
    budget_bytes: int | None,
    offload_folder: str | Path,
    new_tokens: int = 8,
    prompt_tokens: int = 32,
    monitor: Any = None,
    repeats: int = 3,
) -> OffloadRun:
    """Load with `budget_bytes` on the main device (GPU 0, or the CPU when there is no GPU) and decode
    greedily.

    The prompt is random token ids (the weights are random too): this measures speed, not answers.
    Decoding is timed `repeats` times after a warm-up; the median counts (the machine may be shared).
    """
    import torch

    from helpers.load.loading import load_strict
    from helpers.load.monitor import MemoryMonitor

    gpu = torch.cuda.is_available()
    main, spill = ("0", "cpu") if gpu else ("cpu", "disk")
    max_memory = None
    if budget_bytes is not None:
        max_memory = {0: budget_bytes, "cpu": 64 * GIB} if gpu else {"cpu": budget_bytes}
    own = monitor is None
    mon = MemoryMonitor(interval_s=0.05, live=False) if own else monitor
    if own:
        mon.start()
    try:
        with mon.phase("load"):
            start = time.perf_counter()
            kwargs = {"device_map": "auto", "offload_folder": str(offload_folder)}
            if max_memory:
                kwargs["max_memory"] = max_memory
            model, _ = load_strict(source, **kwargs)
            load_seconds = time.perf_counter() - start
        ids = torch.randint(0, 150_000, (1, prompt_tokens), generator=torch.Generator().manual_seed(0))
        ids = ids.to("cuda:0" if gpu else "cpu")
        with torch.inference_mode():
            model.generate(input_ids=ids, max_new_tokens=2, min_new_tokens=2, do_sample=False)  # warm-up
            times = []
            with mon.phase("decode"):
                for _ in range(repeats):
                    start = time.perf_counter()
                    out = model.generate(
                        input_ids=ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False
                    )
                    if gpu:
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - start)
            decode_seconds = statistics.median(times)
        by_device = _bytes_by_device(model)
        del model
    finally:
        if own:
            mon.stop()
    total = sum(by_device.values())
    off = sum(v for k, v in by_device.items() if k != main)
    return OffloadRun(
        budget_bytes,
        main,
        spill,
        by_device,
        off / max(total, 1),
        load_seconds,
        int(out.shape[1] - ids.shape[1]),
        decode_seconds,
        mon.peak_bytes("host"),
    )


def offload_sweep(
    source: str,
    fractions: list[float],
    new_tokens: int = 8,
    monitor: Any = None,
    passes: int = 2,
    threads: int = 1,
) -> list[OffloadRun]:
    """Runs with the main device given `fraction` × model bytes (1.0 = no budget: nothing offloaded).

    The whole sweep runs `passes` times, interleaved, on `threads` torch threads (one thread is far less
    sensitive to other processes on a shared machine); per fraction the fastest decode counts, as `timeit`
    does, because noise only ever adds time. Each run gets a fresh offload folder, removed afterwards.
    """
    import torch

    from helpers.load.anatomy import read_anatomy

    total = read_anatomy(source).total_bytes
    best: dict[int, OffloadRun] = {}
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="offload-") as tmp:
            for p in range(passes):
                for i, frac in enumerate(fractions):
                    budget = None if frac >= 1.0 else int(total * frac)
                    run = offload_run(
                        source, budget, Path(tmp) / f"pass{p}-run{i}", new_tokens, monitor=monitor
                    )
                    if i not in best or run.decode_seconds < best[i].decode_seconds:
                        best[i] = run
    finally:
        torch.set_num_threads(old_threads)
    return [best[i] for i in range(len(fractions))]


def offload_figure(runs: list[OffloadRun], title: str = "decode speed against the share offloaded"):
    """Tokens/s against the fraction of weight bytes off the main device."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    xs = [r.offloaded_fraction * 100 for r in runs]
    ax.plot(xs, [r.tokens_per_s for r in runs], "o-", color="#4c72b0")
    for r, x in zip(runs, xs, strict=True):
        ax.annotate(
            f"{r.tokens_per_s:.1f}",
            (x, r.tokens_per_s),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    spill = runs[0].offload_device if runs else "?"
    ax.set_xlabel(f"% of weight bytes offloaded to {spill}")
    ax.set_ylabel("decode tokens / s")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig
