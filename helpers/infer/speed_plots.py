"""Chapter 05's plots (matplotlib): the family's roofline per GPU, throughput per batch, prefill per budget.

Example:
    >>> import pandas as pd
    >>> fig = plot_roofline(pd.DataFrame(roofline_table({"tiny": "tiny"}, {"host": 1e10})))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


def plot_roofline(df: Any, title: str = "Decode roofline at batch 1 (bandwidth / bytes per token)") -> Any:
    """Grouped bars: roofline tokens/s per model (x) and hardware (bars), log scale."""
    import matplotlib.pyplot as plt

    table = df.pivot(index="model", columns="hardware", values="roofline_tok_s")
    table = table.loc[df.drop_duplicates("model")["model"]]
    fig, ax = plt.subplots(figsize=(10, 4))
    table.plot.bar(ax=ax, logy=True, width=0.85)
    ax.set_ylabel("tokens/s (upper bound)")
    ax.set_xlabel("")
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=20)
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    return fig


def plot_batches(rows: list[dict[str, Any]], memory_gib: dict[int, float] | None = None) -> Any:
    """Measured decode tokens/s and the roofline against batch size; estimated peak memory on a second
    axis."""
    import matplotlib.pyplot as plt

    batches = [r["batch"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(batches, [r["decode_tok_s"] for r in rows], "o-", label="measured (bench MoE, RANDOM weights)")
    if all("roofline_tok_s" in r for r in rows):
        ax.plot(batches, [r["roofline_tok_s"] for r in rows], "--", label="roofline of this machine")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("decode tokens/s (all rows)")
    if memory_gib:
        twin = ax.twinx()
        twin.plot(
            list(memory_gib), list(memory_gib.values()), "s:", color="grey", label="estimated peak (GiB)"
        )
        twin.set_ylabel("estimated peak memory, GiB")
        twin.legend(loc="lower right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Throughput against batch size")
    fig.tight_layout()
    return fig


def plot_prefill(rows: list[dict[str, Any]]) -> Any:
    """Stacked bars per pixel budget: the image processor's seconds and the prefill's, labelled by tokens."""
    import matplotlib.pyplot as plt

    labels = [f"{r['max_pixels'] or 'uncapped'}\n{r['visual_tokens']} tok" for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    proc = [r["processor_s"] for r in rows]
    ax.bar(labels, proc, label="image processor (CPU)")
    ax.bar(labels, [r["prefill_s"] for r in rows], bottom=proc, label="prefill (model)")
    ax.set_ylabel("seconds to the first token")
    ax.set_xlabel("max_pixels / visual tokens of one A4 page")
    ax.legend(fontsize=8)
    ax.set_title("Where the time to the first token goes")
    fig.tight_layout()
    return fig
