"""Exercises of chapter 06 (serving at scale): the vLLM planner applied to new cards, KV dtypes and layouts.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("06")]
    ['06.1', '06.2', '06.3', '06.4']
"""

from __future__ import annotations

from typing import Any

from .judges import mapping, number
from .registry import Verdict, exercise

NB = "06 · Serving at scale"
MOE_30B = "Qwen3-VL-30B-A3B-Instruct"
MOE_235B = "Qwen3-VL-235B-A22B-Instruct"
SCALE_CASE = dict(gpu="H200-141GB", dtype="fp8", kv_cache_dtype="fp8", max_model_len=65_536)
LAYOUT_KEYS = {"PP": "two nodes: TP 8 x PP 2", "DP": "two replicas: TP 8 x DP 2 + EP"}


@exercise(
    "06.1",
    "With vLLM's defaults (`gpu_memory_utilization` 0.9) and `--kv-cache-dtype fp8`, what is the LARGEST "
    "`max_model_len` that still lets ONE H100-80GB serve 8 concurrent full-length requests of the 30B-A3B "
    "(bf16 weights)? Within 16 tokens.",
    f"{NB}, section 1 'The KV cache is what is left'",
    number(abs_tol=16),
    "The KV pool is what the budget leaves after weights, the profile run's activations and the non-torch "
    "share; it does not depend on `max_model_len`. fp8 halves the bytes per token, so "
    "`plan_serving(M30, 'vllm', '1xH100-80GB', kv_cache_dtype='fp8', max_model_len=…).kv_cache_tokens // 8` "
    "= {reference} tokens per request.",
)
def _max_len_for_8() -> int:
    from helpers.core.model import model_config
    from helpers.serve.plan import plan_serving

    plan = plan_serving(MOE_30B, "vllm", "1xH100-80GB", kv_cache_dtype="fp8", max_model_len=4096)
    limit = int(model_config(MOE_30B)["text_config"].get("max_position_embeddings", 262_144))
    return min(plan.kv_cache_tokens // 8, limit)


@exercise(
    "06.2",
    "How many KV-cache bytes does ONE token of the 30B-A3B take on EACH GPU (bf16 KV) at tensor-parallel "
    "sizes 1, 2, 4 and 8? Answer a dict {tp: bytes}.",
    f"{NB}, section 2 'Layouts: where each GPU's memory goes'",
    mapping(),
    "Layers × KV heads per rank × head_dim × 2 (K and V) × 2 bytes: {reference}. The 30B-A3B has only 4 KV "
    "heads, so past TP 4 every rank keeps one (replicated) head and the bytes per token stop falling: TP 8 "
    "buys KV room only through the smaller weight share per GPU. `kv_bytes_per_token(cfg, tp)`.",
    answer_form="a dict {tp: bytes per token per GPU}",
)
def _kv_bytes_by_tp() -> dict[int, int]:
    from helpers.core.model import model_config
    from helpers.serve.plan import kv_bytes_per_token

    cfg = model_config(MOE_30B)
    return {tp: kv_bytes_per_token(cfg, tp) for tp in (1, 2, 4, 8)}


def _layout_and_count(answer: Any, reference: tuple[str, float]) -> Verdict:
    """06.3's judge: the right layout ('PP' or 'DP') and its total concurrency within 1%."""
    if not (isinstance(answer, list | tuple) and len(answer) == 2 and isinstance(answer[0], str)):
        return Verdict(False, "give a pair like ('PP', 12.5): the layout, then its total concurrency")
    layout, count = answer[0].strip().upper(), answer[1]
    if layout not in LAYOUT_KEYS:
        return Verdict(False, f"the layout is 'PP' or 'DP', not {answer[0]!r}")
    if layout != reference[0]:
        return Verdict(False, "that layout gives the smaller total concurrency in this case")
    return number(rel_tol=0.01)(count, reference[1])


@exercise(
    "06.3",
    "Serve Qwen3-VL-235B-A22B on 16 H200-141GB with fp8 weights, `--kv-cache-dtype fp8` and "
    "`max_model_len` 65,536 under vLLM. Which layout gives more total concurrent full-length requests, "
    "TP 8 × PP 2 ('PP') or TP 8 × DP 2 + EP ('DP'), and how many (within 1%)? Answer ('PP' or 'DP', number).",
    f"{NB}, section 4 'Launch commands and the 235B-A22B over one and two nodes'",
    _layout_and_count,
    "`scale_out_plans(BIG, 'vllm', gpu='H200-141GB', dtype='fp8', kv_cache_dtype='fp8', "
    "max_model_len=65536)`: {reference}. PP 2 halves both the weights and the KV bytes per token on each "
    "GPU; DP 2 + EP spreads the experts over 16 GPUs but keeps attention and the vision tower on both "
    "replicas, so a little less is left for KV. The totals are close: choose on latency and network.",
    answer_form="a pair ('PP' or 'DP', total concurrency)",
)
def _better_scale_out() -> tuple[str, float]:
    from helpers.serve.commands import scale_out_plans

    rows = {r["layout"]: r["max_concurrency"] for r in scale_out_plans(MOE_235B, "vllm", **SCALE_CASE)}
    totals = {key: rows[name] for key, name in LAYOUT_KEYS.items()}
    best = max(totals, key=totals.__getitem__)
    return best, totals[best]


@exercise(
    "06.4",
    "What KV-cache capacity, in tokens (within 1%), does this plan give? `vllm serve "
    "Qwen/Qwen3-VL-8B-Instruct --tensor-parallel-size 2 --gpu-memory-utilization 0.85 --max-model-len 16384 "
    "--kv-cache-dtype fp8` on 2 × L40S-48GB (bf16 weights, the planner's defaults for everything else).",
    f"{NB}, section 1 'The KV cache is what is left' and section 3 'Checked against real engines'",
    number(rel_tol=0.01),
    "Per GPU: 0.85 × the card's memory − half the weights (the vision tower replicated: the planner assumes "
    "`--mm-encoder-tp-mode data` at TP > 1) − the profile run's peak − the non-torch share; divided by the "
    "KV bytes per token per GPU (fp8, half the KV heads), rounded to 16-token blocks: {reference} tokens. "
    "`plan_serving('Qwen3-VL-8B-Instruct', 'vllm', '2xL40S-48GB', memory_fraction=0.85, max_model_len=16384, "
    "kv_cache_dtype='fp8').kv_cache_tokens`.",
)
def _kv_capacity_8b_l40s() -> int:
    from helpers.serve.plan import plan_serving

    plan = plan_serving(
        "Qwen3-VL-8B-Instruct",
        "vllm",
        "2xL40S-48GB",
        memory_fraction=0.85,
        max_model_len=16_384,
        kv_cache_dtype="fp8",
    )
    return plan.kv_cache_tokens
