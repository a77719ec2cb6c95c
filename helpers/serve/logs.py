"""Real engine start-up logs (data/engine_logs/) against the planner: logged vs planned KV-cache tokens.

Two checks per log. `plan`: the whole start-up arithmetic from the card, flags and config alone (needs a
known card, and a model whose weights are the config's: a log of a model that only shares the attention
shape says so in `weights_differ`). `kv arithmetic`: the planner's KV bytes per token applied to the log's
own "Available KV cache memory" (checks the per-token bytes, the TP split and the block rounding). The
tolerance is 10% of the logged tokens, or the tokens 1 GiB of KV holds when that is larger.

Example:
    >>> table = compare_logs()
    >>> len(table) >= 6, bool(table["kv_arith_ok"].all())
    (True, True)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.core.configs import load_config_dict
from helpers.core.paths import CONFIGS_DIR, DATA_DIR
from helpers.serve.plan import (
    BLOCK_TOKENS,
    GIB,
    GPU_TOTAL_GIB,
    NON_TORCH_GIB,
    PlanError,
    kv_bytes_per_token,
    plan_serving,
    vllm_non_torch_gib,
)

LOGS_DIR = DATA_DIR / "engine_logs"


def load_logs(folder: Path = LOGS_DIR) -> list[dict[str, Any]]:
    """Every log record (one JSON file per run), sorted by id."""
    return sorted(
        (json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")), key=lambda d: d["id"]
    )


def tolerance_tokens(logged: int, per_token: int) -> int:
    """max(10% of the logged tokens, the tokens 1 GiB of KV holds)."""
    return max(int(0.1 * logged), GIB // per_token)


def _tp(log: dict[str, Any]) -> int:
    """The log's tensor-parallel size (vLLM's and SGLang's flag names)."""
    return int(log["flags"].get("tensor_parallel_size") or log["flags"].get("tp") or 1)


def _plannable(log: dict[str, Any]) -> bool:
    """Whether the whole plan can be made: a known card, and a model whose weights are the config's."""
    return log["gpu"] in GPU_TOTAL_GIB and not log.get("weights_differ")


def _plan_for(log: dict[str, Any], non_torch_gib: float | None = None):
    """The plan from the card, the logged flags and the engine's defaults for every flag not logged
    (vLLM's ``--mm-encoder-tp-mode`` defaults to "weights": the vision tower is sharded, not replicated;
    videos are allowed unless ``limit_mm_per_prompt`` sets video 0, so vLLM profiles the largest video;
    a log's ``sampler`` names the top-k/top-p path its engine took when that is not FlashInfer)."""
    flags = log["flags"]
    videos = (flags.get("limit_mm_per_prompt") or {}).get("video", 1)
    tp = _tp(log)
    frac = flags.get("gpu_memory_utilization", flags.get("mem_fraction_static"))
    return plan_serving(
        CONFIGS_DIR / log["config"],
        log["engine"],
        f"{log['gpus']}x{log['gpu']}",
        tp=tp,
        ep=bool(flags.get("enable_expert_parallel")),
        dtype=log.get("dtype", "bfloat16"),
        kv_cache_dtype=flags.get("kv_cache_dtype", "auto"),
        memory_fraction=frac,
        max_model_len=int(flags["max_model_len"]),
        max_num_batched_tokens=flags.get("max_num_batched_tokens"),
        max_num_seqs=flags.get("max_num_seqs"),
        encoder_dp=flags.get("mm_encoder_tp_mode") == "data",
        text_only=bool(log.get("text_only")),
        sampler=log.get("sampler", "flashinfer"),
        profile_video=log["engine"] == "vllm" and videos > 0,
        non_torch_gib=non_torch_gib,
    )


def compare_log(log: dict[str, Any]) -> dict[str, Any]:
    """One row: logged tokens, planned tokens (when the card is known), KV-arithmetic tokens, errors."""
    cfg = load_config_dict(CONFIGS_DIR / log["config"])
    tp = _tp(log)
    per_token = kv_bytes_per_token(cfg, tp)
    logged = int(log["kv_cache_tokens"])
    tol = tolerance_tokens(logged, per_token)
    row: dict[str, Any] = {
        "log": log["id"],
        "engine": log["engine"],
        "gpu": f"{log['gpus']}x{log['gpu']}",
        "logged_tokens": logged,
        "kv_bytes_per_token": per_token,
        "tolerance_tokens": tol,
    }
    if "available_kv_gib" in log:
        arith = int(log["available_kv_gib"] * GIB) // per_token
        arith = arith // BLOCK_TOKENS * BLOCK_TOKENS if log["engine"] == "vllm" else arith
        row.update(kv_arith_tokens=arith, kv_arith_error_pct=round(100 * (arith - logged) / logged, 2))
        row["kv_arith_ok"] = abs(arith - logged) <= tol
    else:
        row.update(kv_arith_tokens=None, kv_arith_error_pct=None, kv_arith_ok=True)
    if _plannable(log):
        try:
            planned = _plan_for(log).kv_cache_tokens
        except PlanError as err:
            planned, row["plan_refusal"] = None, str(err)
        row["plan_tokens"] = planned
        row["plan_error_pct"] = round(100 * (planned - logged) / logged, 2) if planned else None
        row["plan_ok"] = planned is not None and abs(planned - logged) <= tol
    else:
        row.update(plan_tokens=None, plan_error_pct=None, plan_ok=None)
    row["why_not"] = log.get("known_gap") or log.get("weights_differ", "")
    return row


def compare_logs(folder: Path = LOGS_DIR):
    """The log-vs-plan table (a DataFrame), one row per collected log."""
    import pandas as pd

    return pd.DataFrame([compare_log(log) for log in load_logs(folder)])


def non_torch_effect(folder: Path = LOGS_DIR):
    """Each fully planned vLLM log with TP > 1, planned twice: charging the one-GPU non-torch figure, and
    the term the planner uses (on NVLink cards the median of vLLM's own TP measurements). A DataFrame.

    Example:
        >>> t = non_torch_effect()
        >>> bool((t["error_pct_planner"].abs() <= t["error_pct_one_gpu_figure"].abs()).all())
        True
    """
    import pandas as pd

    rows = []
    for log in load_logs(folder):
        tp = _tp(log)
        if log["engine"] != "vllm" or tp == 1 or not _plannable(log):
            continue
        logged = int(log["kv_cache_tokens"])
        flat, used = _plan_for(log, NON_TORCH_GIB).kv_cache_tokens, _plan_for(log).kv_cache_tokens
        rows.append(
            {
                "log": log["id"],
                "gpu": f"{log['gpus']}x{log['gpu']}",
                "non_torch_gib_planner": round(vllm_non_torch_gib(log["gpu"], tp), 2),
                "error_pct_one_gpu_figure": round(100 * (flat - logged) / logged, 2),
                "error_pct_planner": round(100 * (used - logged) / logged, 2),
            }
        )
    return pd.DataFrame(rows)
