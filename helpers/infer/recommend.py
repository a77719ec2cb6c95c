"""A recommendation per hardware profile, computed: backends, batch, cache and compile, with the roofline.

For every GPU profile in data/hardware.json and for this machine's CPU:
* GPUs: how many cards the bf16 weights and one request's peak need (the estimator, helpers.estimate).
* experts: on CUDA ``grouped_mm`` where Transformers can dispatch it (compute capability 8.0+, the rule in
  integrations/moe.py), else ``batched_mm``; on this CPU the backend measured fastest. A backend whose
  estimated peak does not fit is passed over for the next (``batched_mm`` gathers N·k expert matrices in
  prefill: hundreds of GiB for a 4K-token prompt on the 30B-A3B), ``eager`` last.
* attention: ``flash_attention_2`` where the package is installed and the card is 8.0+, else ``sdpa``; on
  this CPU the measured faster of sdpa and eager.
* batch: the largest power of two up to `max_batch` whose estimated peak (context + one page per row)
  fits the cards; its roofline tokens/s beside batch 1's. With `device_map` the layers are split over the
  cards and one card works at a time, so one card's bandwidth bounds decode whatever the count.
* cache / compile: static cache + `torch.compile` when the measured compile pays back within
  `tokens_per_session` tokens (on CUDA: when a GPU measurement says so, else "measure it").

Example:
    >>> measured = {"best_experts": "batched_mm", "best_attn": "sdpa", "compile_breakeven_tokens": None,
    ...             "host_bandwidth": 8e9}
    >>> rows = recommendations("Qwen/Qwen3-VL-30B-A3B-Instruct", measured)
    >>> rows[-1]["hardware"], rows[-1]["experts"]
    ('this CPU', 'batched_mm')
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from helpers.core.hardware import parse_gpus
from helpers.core.model import model_config
from helpers.estimate.memory import estimate_peak_memory
from helpers.infer.roofline import gpu_bandwidths, roofline_tokens_per_s

A4 = (2480, 3508)


def _fits(
    cfg: dict[str, Any], batch: int, context: int, capacity: int, device: str, cap: int, experts: str
) -> bool:
    est = estimate_peak_memory(
        cfg,
        context_tokens=context,
        batch=batch,
        images=[A4],
        max_pixels=cap,
        device=device,
        experts_implementation=experts,
    )
    return est.peak_bytes <= capacity


def _largest_batch(
    cfg: dict[str, Any], context: int, capacity: int, device: str, cap: int, max_batch: int, experts: str
) -> int:
    best, b = 0, 1
    while b <= max_batch and _fits(cfg, b, context, capacity, device, cap, experts):
        best, b = b, b * 2
    return best


def _fitting_experts(
    cfg: dict[str, Any], candidates: list[str], context: int, capacity: int, device: str, cap: int
) -> str:
    """The first candidate whose batch-1 peak fits `capacity`, else ``eager`` (the smallest working set)."""
    for experts in dict.fromkeys([*candidates, "eager"]):
        if _fits(cfg, 1, context, capacity, device, cap, experts):
            return experts
    return "eager"


def recommendations(
    model: Any,
    measured: dict[str, Any],
    context_tokens: int = 4096,
    max_pixels: int = 1 << 20,
    max_batch: int = 64,
    tokens_per_session: int = 10_000,
    gpu_measured: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One row per hardware profile (then "this CPU"); see the module docstring for each column's rule.

    `measured` (this CPU): best_experts, best_attn, compile_breakeven_tokens (None: compiling did not pay),
    host_bandwidth (bytes/s), ram_bytes (optional, default: this machine's), experts_ranking (optional:
    the backends fastest first, tried in that order until one's peak fits). `gpu_measured` (optional, from
    benchmarks/gpu_check.py): best_experts, compile_breakeven_tokens.
    """
    import psutil

    cfg = model_config(model)
    rows = []
    flash = importlib.util.find_spec("flash_attn") is not None
    for gpu, bandwidth in gpu_bandwidths().items():
        hw = parse_gpus(gpu)
        one = estimate_peak_memory(cfg, context_tokens=context_tokens, images=[A4], max_pixels=max_pixels)
        count = math.ceil(one.peak_bytes / hw.usable_gpu_bytes())
        count = 1 << max(count - 1, 0).bit_length()  # tensor/pipeline splits come in powers of two
        capacity = count * hw.usable_gpu_bytes()
        grouped = hw.compute_capability >= (8, 0)
        if gpu_measured and gpu_measured.get("best_experts") and grouped:
            candidates = [gpu_measured["best_experts"], "grouped_mm"]
        else:
            candidates = ["grouped_mm"] if grouped else ["batched_mm"]
        experts = _fitting_experts(cfg, candidates, context_tokens, capacity, "cuda", max_pixels)
        batch = _largest_batch(cfg, context_tokens, capacity, "cuda", max_pixels, max_batch, experts)
        pays = (gpu_measured or {}).get("compile_breakeven_tokens")
        rows.append(
            {
                "hardware": gpu,
                "gpus": count,
                "experts": experts,
                "attention": "flash_attention_2" if flash and grouped else "sdpa",
                "batch": batch,
                "cache": "static" if gpu_measured else "static (measure)",
                "compile": ("yes" if pays and pays <= tokens_per_session else "no")
                if gpu_measured
                else "measure (benchmarks/gpu_check.py)",
                # device_map splits layers: one card works at a time, so one card's bandwidth bounds decode
                "roofline_tok_s_b1": round(roofline_tokens_per_s(cfg, bandwidth, 1, context_tokens), 1),
                "roofline_tok_s_at_batch": round(
                    roofline_tokens_per_s(cfg, bandwidth, batch, context_tokens), 1
                )
                if batch
                else None,
            }
        )
    ram = measured.get("ram_bytes") or psutil.virtual_memory().total
    ranking = measured.get("experts_ranking") or [measured["best_experts"]]
    experts = _fitting_experts(cfg, ranking, context_tokens, int(ram * 0.8), "cpu", max_pixels)
    batch = _largest_batch(cfg, context_tokens, int(ram * 0.8), "cpu", max_pixels, max_batch, experts)
    pays = measured.get("compile_breakeven_tokens")
    bandwidth = measured["host_bandwidth"]
    fits = batch > 0
    rows.append(
        {
            "hardware": "this CPU",
            "gpus": 0,
            "experts": experts,
            "attention": measured["best_attn"],
            "batch": batch,
            "cache": "static" if pays and pays <= tokens_per_session else "dynamic",
            "compile": "yes" if pays and pays <= tokens_per_session else "no",
            "roofline_tok_s_b1": round(roofline_tokens_per_s(cfg, bandwidth, 1, context_tokens), 1),
            "roofline_tok_s_at_batch": round(roofline_tokens_per_s(cfg, bandwidth, batch, context_tokens), 1)
            if fits
            else None,
        }
    )
    return rows
