"""Offload really run, and quantisation coverage really measured on the meta model.

`offload_sweep` loads one random-weight checkpoint several times through `from_pretrained(device_map="auto",
max_memory=…, offload_folder=…)`, each time with a smaller budget on the main device, and times greedy
decoding: on a GPU machine the overflow goes to the CPU, on a CPU-only machine (no GPU to offload from)
it goes to disk — accelerate's hooks then read those layers back for every forward pass.

`quantisation_coverage` asks each quantiser of Transformers to prepare the meta 30B exactly as
`from_pretrained(quantization_config=…)` would (`AutoHfQuantizer.preprocess_model`), then counts which
bytes sit in replaced modules: bitsandbytes replaces `nn.Linear` only, so the fused 3-D experts stay bf16.

Example:
    >>> rows = quantisation_coverage("data/configs/Qwen3-VL-30B-A3B-Instruct.json")
    >>> [(r.method, round(r.converted_fraction, 2)) for r in rows]   # doctest: +SKIP
    [('bitsandbytes 4-bit', 0.05), ('bitsandbytes 8-bit', 0.05), ('fp8 (fine-grained)', 0.97)]
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.units import GIB, fmt_gib

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
    """Build once (cached) a random-weight Qwen3-VL-MoE checkpoint of ~0.6 GiB; RANDOM weights, noise output."""
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
        return self.new_tokens / self.decode_seconds if self.decode_seconds else 0.0


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
    """Load with `budget_bytes` on the main device (GPU 0, or the CPU when there is no GPU) and decode greedily.

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


# --- quantisation coverage ---------------------------------------------------------------------------
@dataclass
class QuantCoverage:
    """Which bytes one quantisation method converts, measured on the meta model."""

    method: str
    total_bytes: int
    converted_bytes: int
    bytes_per_param: float
    kept: dict[str, int] = field(default_factory=dict)  # module class -> bf16 bytes left unconverted
    converted_modules: dict[str, int] = field(default_factory=dict)  # new class -> count

    @property
    def converted_fraction(self) -> float:
        return self.converted_bytes / max(self.total_bytes, 1)

    def weights_bytes(self) -> int:
        """Weight bytes after quantisation (scales and statistics not counted: a few % of converted bytes)."""
        return int(self.converted_bytes / 2 * self.bytes_per_param) + (
            self.total_bytes - self.converted_bytes
        )


def _quant_configs() -> list[tuple[str, Any, float]]:
    from transformers import BitsAndBytesConfig, FineGrainedFP8Config

    return [
        ("bitsandbytes 4-bit", BitsAndBytesConfig(load_in_4bit=True), 0.5),
        ("bitsandbytes 8-bit", BitsAndBytesConfig(load_in_8bit=True), 1.0),
        ("fp8 (fine-grained)", FineGrainedFP8Config(), 1.0),
    ]


def _param_bytes(module: Any) -> int:
    return sum(p.numel() * 2 for p in module.parameters(recurse=True))  # bf16, as the release stores them


def quantisation_coverage(config: str | Path) -> list[QuantCoverage]:
    """For each method, let Transformers' own quantiser rewrite a fresh meta model and count what it replaced."""
    from transformers.quantizers import AutoHfQuantizer

    from helpers.estimate.census import meta_model

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)  # "pip install kernels" hint
    rows = []
    for method, qconfig, per_param in _quant_configs():
        model = meta_model(config, "bfloat16")
        before = {name: type(mod) for name, mod in model.named_modules()}
        sizes = {name: _param_bytes(mod) for name, mod in model.named_modules()}
        total = sizes[""]
        try:
            quantizer = AutoHfQuantizer.from_config(qconfig, pre_quantized=False)
            quantizer.preprocess_model(model, device_map=None, keep_in_fp32_modules=[])
        except Exception as err:
            raise WorkbookError(
                f"{method}: Transformers could not prepare the model ({type(err).__name__}: "
                f"{str(err).splitlines()[0]}); check the installed quantisation packages"
            ) from None
        after = dict(model.named_modules())
        replaced = [n for n, cls in before.items() if n in after and type(after[n]) is not cls]
        top = [n for n in replaced if not any(n.startswith(o + ".") for o in replaced if o != n)]
        converted = sum(sizes[n] for n in top)
        new_classes: dict[str, int] = {}
        for n in top:
            new_classes[type(after[n]).__name__] = new_classes.get(type(after[n]).__name__, 0) + 1
        kept: dict[str, int] = {}
        for n, cls in before.items():
            mod = after.get(n)
            if mod is None or n in replaced or any(n.startswith(t + ".") for t in top):
                continue
            own = sum(p.numel() * 2 for p in mod.parameters(recurse=False))
            if own:
                kept[cls.__name__] = kept.get(cls.__name__, 0) + own
        rows.append(
            QuantCoverage(
                method,
                total,
                converted,
                per_param,
                dict(sorted(kept.items(), key=lambda kv: -kv[1])),
                new_classes,
            )
        )
    return rows


def coverage_table(rows: list[QuantCoverage]) -> str:
    """Text table: method, converted share, weight GiB after, the biggest thing left in bf16."""
    lines = [f"{'method':<20} {'converted':>9} {'weights GiB':>11}  largest part left in bf16"]
    for r in rows:
        big = next(iter(r.kept.items()), ("-", 0))
        lines.append(
            f"{r.method:<20} {r.converted_fraction:>9.1%} {r.weights_bytes() / GIB:>11.1f}  "
            f"{big[0]} ({fmt_gib(big[1], 1)})"
        )
    return "\n".join(lines)


def fp8_stays_fp8(capability: tuple[int, int]) -> bool:
    """Would Transformers keep an FP8 model in FP8 on a GPU of this compute capability?

    Runs the library's own `FineGrainedFP8HfQuantizer.validate_environment` with torch's device queries
    answering for that GPU; on capability < 8.9 Transformers silently dequantises to bf16 (no saving).

    Example:
        >>> fp8_stays_fp8((9, 0)), fp8_stays_fp8((8, 0))
        (True, False)
    """
    from unittest import mock

    import torch
    from transformers import FineGrainedFP8Config
    from transformers.quantizers import AutoHfQuantizer

    logging.getLogger("transformers.quantizers.quantizer_finegrained_fp8").setLevel(logging.ERROR)
    quantizer = AutoHfQuantizer.from_config(FineGrainedFP8Config(), pre_quantized=True)
    with (
        mock.patch.object(torch.cuda, "is_available", return_value=True),
        mock.patch.object(torch.cuda, "get_device_capability", return_value=capability),
    ):
        try:
            quantizer.validate_environment(device_map={"": 0})
        except Exception:  # later checks need a real device; the dequantise decision comes first
            pass
    return not quantizer.quantization_config.dequantize


GUIDE_PROFILES = [
    "1xT4-16GB",
    "1xRTX4090-24GB",
    "2xRTX4090-24GB",
    "1xL40S-48GB",
    "1xA100-40GB",
    "2xA100-40GB",
    "1xA100-80GB",
    "1xH100-80GB",
    "1xH200-141GB",
]


def decision_guide(
    config: Any, bnb4_weights_bytes: int, profiles: list[str] | None = None
) -> list[dict[str, Any]]:
    """What to do per hardware profile: does bf16 fit, does fp8 fit *and stay fp8*, would bitsandbytes 4-bit fit
    (given its measured weight bytes), and otherwise what offload costs per token. Plans come from
    `helpers.estimate.placement` (accelerate on the meta model, room kept for a 4k-token job).

    Example:
        >>> rows = decision_guide("tiny", bnb4_weights_bytes=1, profiles=["1xT4-16GB"])  # doctest: +SKIP
        >>> rows[0]["advice"]
        "bf16, device_map='auto'"
    """
    from helpers.core.hardware import parse_gpus
    from helpers.estimate.placement import plan_placement

    rows = []
    for spec in profiles or GUIDE_PROFILES:
        hw = parse_gpus(spec)
        native = fp8_stays_fp8(hw.compute_capability)
        bf16 = plan_placement(config, hw, dtype="bfloat16").summary()
        f8 = (
            plan_placement(config, hw, dtype="fp8").summary() if native else bf16
        )  # dequantised: the bf16 job
        bnb_fits = bnb4_weights_bytes < hw.count * hw.usable_gpu_bytes()
        if bf16["fits"]:
            advice = "bf16, device_map='auto'"
        elif native and f8["fits"]:
            advice = "fp8 on GPU" + ("" if bnb_fits else " (bitsandbytes 4-bit would not fit)")
        else:
            kind = "fp8" if native else "bf16 (fp8 is dequantised here)"
            advice = (
                f"offload: {kind} + {fmt_gib(f8['cpu_bytes'], 0)} on CPU "
                f"(~{f8['seconds_per_token_transfer']:.2f} s/token)"
            )
        rows.append(
            {
                "profile": spec,
                "bf16": bf16["fits"],
                "fp8": native and f8["fits"],
                "bnb4": bnb_fits,
                "advice": advice,
            }
        )
    return rows
