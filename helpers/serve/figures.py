"""Plots for chapter 06: where each GPU's memory goes under several layouts; log vs plan.

Example:
    >>> from helpers.serve.plan import plan_serving
    >>> A3B = "data/configs/Qwen3-VL-30B-A3B-Instruct.json"
    >>> p = plan_serving(A3B, "vllm", "1xH100-80GB", max_model_len=8192)
    >>> fig = plot_budgets({"1xH100": p})
    >>> len(fig.axes)
    1
"""

from __future__ import annotations

from typing import Any


def plot_budgets(plans: dict[str, Any], title: str = "Per-GPU memory by layout"):
    """Stacked bars, one per plan: weights, profile-run reserve, non-torch, KV cache (GiB)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = list(plans)
    bottoms = [0.0] * len(names)
    for part, color in (
        ("weights", "#4c72b0"),
        ("activations (profile run)", "#dd8452"),
        ("vision encoder (profile run)", "#c44e52"),
        ("non-torch", "#8172b3"),
        ("KV cache", "#55a868"),
    ):
        values = [plans[n].breakdown_gib()[part] for n in names]
        ax.bar(names, values, bottom=bottoms, label=part, color=color)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set_ylabel("GiB per GPU")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_log_errors(table: Any):
    """Planned vs logged KV tokens per log, error in %; the ±10% band shaded."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    rows = table.reset_index(drop=True)
    for col, marker, label in (
        ("plan_error_pct", "o", "full plan"),
        ("kv_arith_error_pct", "s", "KV arithmetic"),
    ):
        ax.scatter(rows.index, rows[col], marker=marker, label=label)
    ax.axhspan(-10, 10, color="green", alpha=0.1, label="±10%")
    ax.set_xticks(rows.index, [name[:28] for name in rows["log"]], rotation=20, ha="right", fontsize=7)
    ax.set_ylabel("tokens: plan vs log (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
