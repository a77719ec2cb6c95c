"""Decode and prefill speed per Transformers lever, measured with `generate` itself, on a bench-size MoE.

The levers are Transformers' own: `experts_implementation` (``eager``: a Python loop over the experts the
tokens hit; ``grouped_mm``: tokens sorted by expert, one grouped GEMM over all experts with offsets;
``batched_mm``: each (token, expert) pair gathers its expert's weights and one dense batched GEMM runs over
the N x top-k pairs), switched on a loaded model with `set_experts_implementation`; `attn_implementation`
(`set_attn_implementation`); `cache_implementation="static"` with `torch.compile`. Nothing is
re-implemented here: a logits processor only stamps the clock at every step of `generate`, so prefill is
the time to the first step and decode the median gap between later steps (robust on a shared machine).

Example:
    >>> validate_request(experts="grouped", batch=8)  # doctest: +SKIP
    WorkbookError: experts backend 'grouped': use one of eager, grouped_mm, batched_mm
    >>> cfg = bench_config()
    >>> cfg["text_config"]["num_experts"], cfg["text_config"]["num_experts_per_tok"]
    (128, 8)
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.fixtures import grown_config

EXPERTS_BACKENDS = ("eager", "grouped_mm", "batched_mm")
ATTN_BACKENDS = ("sdpa", "eager", "flash_attention_2", "flash_attention_3")
MAX_BATCH = 256
MAX_PIXELS_RANGE = (32 * 32, 16_777_216)
# The bench MoE: the 30B-A3B's expert count and top-k (128, 8), its 3:8 moe_intermediate:hidden ratio (never
# square, see helpers.core.configs), 8 layers, and every width divided by BENCH_WIDTH_DIVISOR. Why 32: on a
# GPU at batch 1, one expert's two GEMMs read ~9 MiB in ~2 us while the eager loop spends ~10 kernel launches
# (~5 us each) around them, so dispatch outweighs compute ~20:1. On this CPU an op costs ~5-10 us to
# dispatch, and hidden 64 / moe_intermediate 24 keeps an expert's GEMMs at ~1 us: the same regime. At 1/8
# (hidden 256) the GEMMs cost as much as their dispatch and the backends' ranking is the compute-bound one
# (`benchmarks/speed.py` reports both). The vocabulary is scaled too, so the output projection keeps its
# share of the bytes per token; it has no image or chat tokens: the bench model takes random text ids
# (`bench_inputs`); chapters use the tiny fixture for anything with images.
BENCH_WIDTH_DIVISOR = 32
RELEASE_VOCAB = 151_936
BENCH_VOCAB = RELEASE_VOCAB // BENCH_WIDTH_DIVISOR


def bench_text(divisor: int = BENCH_WIDTH_DIVISOR) -> dict[str, Any]:
    """The bench model's text_config overrides for widths divided by `divisor` (4 heads, 2 KV heads).

    Example:
        >>> t = bench_text(8)
        >>> t["hidden_size"], t["moe_intermediate_size"], t["head_dim"], t["num_experts"]
        (256, 96, 64, 128)
    """
    if divisor not in (2, 4, 8, 16, 32):
        raise WorkbookError(f"width divisor {divisor!r}: use 2, 4, 8, 16 or 32")
    vocab = RELEASE_VOCAB // divisor
    return {
        "vocab_size": vocab,
        "bos_token_id": vocab - 2,
        "eos_token_id": vocab - 1,
        "hidden_size": 2048 // divisor,
        "moe_intermediate_size": 768 // divisor,
        "num_hidden_layers": 8,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 2048 // divisor // 4,
        "num_experts": 128,
        "num_experts_per_tok": 8,
    }


def bench_config(layers: int | None = None, divisor: int = BENCH_WIDTH_DIVISOR) -> dict[str, Any]:
    """The bench model's config: the real release config, 128 experts / top-8, widths divided by `divisor`.

    Example:
        >>> bench_config(layers=2)["text_config"]["num_hidden_layers"]
        2
    """
    text = bench_text(divisor)
    if layers is not None:
        text["num_hidden_layers"] = layers
    return grown_config("tiny-moe", text)


def bench_dtype(device: str = "cpu") -> Any:
    """The dtype to measure speed in on `device`: bfloat16 on CUDA and on CPUs with bf16 instructions
    (AVX512-BF16/AMX, as oneDNN reports), float32 elsewhere, where bf16 GEMMs are converted to float32
    op by op and every backend pays for it.

    Example:
        >>> str(bench_dtype("cuda"))
        'torch.bfloat16'
    """
    import torch

    if device.startswith("cuda") or torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return torch.float32


def bench_inputs(
    batch: int = 1, tokens: int = 64, seed: int = 0, device: str = "cpu", vocab: int = BENCH_VOCAB
) -> dict[str, Any]:
    """Random text ids below the bench vocabulary, a different prompt per row (batch x tokens, no padding).

    Example:
        >>> bench_inputs(2, 8)["input_ids"].shape
        torch.Size([2, 8])
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab - 2, (batch, tokens), generator=gen)
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}


def available_backends(device: str = "cpu") -> dict[str, list[str]]:
    """The experts and attention implementations this machine can run on `device`.

    grouped_mm needs torch's grouped GEMM (CPU from torch 2.9; CUDA compute capability 8.0+); flash
    attention needs CUDA and its package (`flash_attn`, or `kernels` for the hub kernels).

    Example:
        >>> available_backends("cpu")["experts"]
        ['eager', 'grouped_mm', 'batched_mm']
    """
    import torch

    experts = ["eager", "batched_mm"]
    has_gmm = hasattr(torch.nn.functional, "grouped_mm") or hasattr(torch, "_grouped_mm")
    if device.startswith("cuda"):
        has_gmm = has_gmm and torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)
    if has_gmm:
        experts.insert(1, "grouped_mm")
    attn = ["sdpa", "eager"]
    if device.startswith("cuda") and torch.cuda.is_available():
        if importlib.util.find_spec("flash_attn") is not None:
            attn.append("flash_attention_2")
        if importlib.util.find_spec("flash_attn_interface") is not None:
            attn.append("flash_attention_3")
    return {"experts": experts, "attn": attn}


def validate_request(
    experts: str | None = None,
    attn: str | None = None,
    batch: int = 1,
    max_pixels: int | None = None,
    device: str = "cpu",
) -> None:
    """Refuse a bad speed request in one line that says what to use instead, before anything loads.

    Example:
        >>> validate_request(experts="batched_mm", attn="sdpa", batch=8)
    """
    ok = available_backends(device)
    if experts is not None and experts not in EXPERTS_BACKENDS:
        raise WorkbookError(f"experts backend {experts!r}: use one of {', '.join(EXPERTS_BACKENDS)}")
    if experts is not None and experts not in ok["experts"]:
        raise WorkbookError(
            f"experts backend {experts!r} is not available on {device} here; use {' or '.join(ok['experts'])}"
        )
    if attn is not None and attn not in ATTN_BACKENDS:
        raise WorkbookError(f"attention backend {attn!r}: use one of {', '.join(ATTN_BACKENDS)}")
    if attn is not None and attn not in ok["attn"]:
        raise WorkbookError(
            f"attention backend {attn!r} needs CUDA and its package, not found on {device} here; "
            f"use {' or '.join(ok['attn'])}"
        )
    if not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise WorkbookError(f"batch {batch!r}: give a whole number between 1 and {MAX_BATCH}")
    lo, hi = MAX_PIXELS_RANGE
    if max_pixels is not None and (not isinstance(max_pixels, int) or not lo <= max_pixels <= hi):
        raise WorkbookError(f"max_pixels {max_pixels!r}: give a pixel budget between {lo:,} and {hi:,}")


class StepClock:
    """A logits processor that only stamps the clock at each `generate` step (scores pass unchanged)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.start = time.perf_counter()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.stamps.append(time.perf_counter())
        return scores


def timed_generate(model: Any, inputs: Any, new_tokens: int = 16, **generate_kwargs: Any) -> dict[str, Any]:
    """Greedy `generate` with a step clock: prefill seconds, median decode step, tokens/s, the new tokens.

    Decode tokens/s counts every row (batch x steps / time). Example:
        >>> r = timed_generate(model, inputs, 8)  # doctest: +SKIP
        >>> sorted(r)[:3]
        ['batch', 'decode_step_s', 'decode_tok_s']
    """
    import torch
    from transformers import LogitsProcessorList

    if new_tokens < 3:
        raise WorkbookError("new_tokens: give at least 3 (one prefill step and two decode steps)")
    clock = StepClock()
    with torch.inference_mode():
        clock.start = time.perf_counter()
        out = model.generate(
            **inputs,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            logits_processor=LogitsProcessorList([clock]),
            **generate_kwargs,
        )
        end = time.perf_counter()
    steps = [b - a for a, b in zip(clock.stamps, clock.stamps[1:], strict=False)]
    batch = int(inputs["input_ids"].shape[0])
    prompt = int(inputs["input_ids"].shape[1])
    step = statistics.median(steps)
    return {
        "batch": batch,
        "prompt_tokens": prompt,
        "prefill_s": clock.stamps[0] - clock.start,
        "prefill_tok_s": batch * prompt / (clock.stamps[0] - clock.start),
        "decode_step_s": step,
        "decode_tok_s": batch / step,
        "wall_s": end - clock.start,
        "tokens": out[:, prompt:].tolist(),
    }


def set_backends(model: Any, experts: str | None = None, attn: str | None = None) -> Any:
    """Switch a loaded model's experts and/or attention implementation in place (Transformers' setters)."""
    if experts is not None:
        model.set_experts_implementation(experts)
    if attn is not None:
        model.set_attn_implementation(attn)
    return model


def greedy_tokens_by_backend(
    model: Any, inputs: Any, experts: list[str], new_tokens: int = 8
) -> dict[str, list[int]]:
    """The greedy new tokens of row 0 under each experts backend, computed in float32 (with random weights
    the top logits are near-ties, and bf16 rounding in another order can flip one); the model's dtype is
    restored afterwards, and the last backend is left set.

    Example:
        >>> t = greedy_tokens_by_backend(m, bench_inputs(1, 16), ["eager", "batched_mm"])  # doctest: +SKIP
        >>> t["eager"] == t["batched_mm"]  # doctest: +SKIP
        True
    """
    import torch

    dtype = model.dtype
    model.float()
    prompt = int(inputs["input_ids"].shape[1])
    tokens = {}
    try:
        for e in experts:
            model.set_experts_implementation(e)
            with torch.inference_mode():
                out = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False)
            tokens[e] = out[0, prompt:].tolist()
    finally:
        model.to(dtype)
    return tokens


def compare_backends(
    model: Any,
    inputs: Any,
    experts: list[str],
    attns: list[str] | None = None,
    new_tokens: int = 12,
    rounds: int = 3,
) -> list[dict[str, Any]]:
    """Every experts x attention pair, interleaved round by round; the median over rounds per pair.

    Each row: experts, attn, batch, prefill_tok_s, decode_tok_s (medians), tokens (the first round's), and
    `vs_eager` (decode tokens/s over the eager-experts row with the same attention, same rounds).
    """
    attns = attns or ["sdpa"]
    pairs = [(e, a) for a in attns for e in experts]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {p: [] for p in pairs}
    set_backends(model, pairs[0][0], pairs[0][1])
    timed_generate(model, inputs, 3)  # warm-up: allocator and first-call costs
    for _ in range(rounds):
        for e, a in pairs:
            set_backends(model, e, a)
            runs[(e, a)].append(timed_generate(model, inputs, new_tokens))
    rows = []
    for (e, a), rs in runs.items():
        rows.append(
            {
                "experts": e,
                "attn": a,
                "batch": rs[0]["batch"],
                "prompt_tokens": rs[0]["prompt_tokens"],
                "prefill_tok_s": statistics.median(r["prefill_tok_s"] for r in rs),
                "decode_tok_s": statistics.median(r["decode_tok_s"] for r in rs),
                "tokens": rs[0]["tokens"],
            }
        )
    for row in rows:
        base = next((r for r in rows if r["experts"] == "eager" and r["attn"] == row["attn"]), None)
        row["vs_eager"] = row["decode_tok_s"] / base["decode_tok_s"] if base else None
    return rows


def can_compile(device: str = "cpu") -> bool:
    """Whether `torch.compile` can build the decode step here: on CUDA (Triton ships with torch); on a CPU
    when a C++ compiler is on PATH (inductor's CPU backend writes and compiles C++; $CXX if set).

    Example:
        >>> isinstance(can_compile("cpu"), bool)
        True
    """
    import os
    import shutil

    if device.startswith("cuda"):
        return True
    names = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    return any(shutil.which(n) for n in names if n)


def compile_config(device: str = "cpu") -> Any:
    """Transformers' `CompileConfig` for `generate`: its defaults on CUDA (compiled decode step with CUDA
    graphs); on other devices mode "default", and the flag that lets `generate` compile there."""
    from transformers import CompileConfig

    if device.startswith("cuda"):
        return CompileConfig()
    config = CompileConfig(mode="default")
    config._compile_all_devices = True  # Transformers auto-compiles on accelerators only unless told
    return config


def compile_payoff(model: Any, inputs: Any, new_tokens: int = 16, rounds: int = 2) -> dict[str, Any]:
    """Static KV cache with and without `torch.compile`, through `generate` itself (it compiles the decode
    step when the cache is static): compile seconds, decode tokens/s of each, tokens that repay the compile.

    `breakeven_tokens` is None when the compiled step is not faster. `same_tokens` compares the greedy tokens.
    """
    static = {"cache_implementation": "static"}
    plain = [timed_generate(model, inputs, new_tokens, disable_compile=True, **static) for _ in range(rounds)]
    config = compile_config(str(model.device))
    first = timed_generate(model, inputs, new_tokens, compile_config=config, **static)
    compiled = [
        timed_generate(model, inputs, new_tokens, compile_config=config, **static) for _ in range(rounds)
    ]
    wall_plain = statistics.median(r["wall_s"] for r in plain)
    compile_s = max(first["wall_s"] - wall_plain, 0.0)
    step_plain = statistics.median(r["decode_step_s"] for r in plain)
    step_comp = statistics.median(r["decode_step_s"] for r in compiled)
    saved = step_plain - step_comp
    batch = plain[0]["batch"]
    return {
        "compile_s": compile_s,
        "static_tok_s": batch / step_plain,
        "compiled_tok_s": batch / step_comp,
        "compile_speedup": step_plain / step_comp,
        "breakeven_tokens": int(compile_s / saved) + 1 if saved > 0 else None,
        "same_tokens": plain[0]["tokens"] == compiled[0]["tokens"],
    }
