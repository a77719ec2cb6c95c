"""Batched generation measured: experts the router really touches, left vs right padding, throughput per
batch.

* `measured_distinct_experts` hooks every MoE router (`mlp.gate`, whose output is logits, scores and the
  top-k expert indices) during `generate` and counts the distinct experts each decode step touches per
  layer: the number the roofline's uniform-routing expectation stands in for.
* `padding_comparison` runs prompts of different lengths with images one by one, then as one batch padded
  on the left and on the right, and compares each row's greedy tokens with its one-by-one run; it keeps
  the warning Transformers logs for right padding.
* `batch_sweep` measures decode throughput (all rows) at each batch size.

Example:
    >>> rows = batch_sweep(model, make_inputs, [1, 2, 4])  # doctest: +SKIP
    >>> [r["batch"] for r in rows]
    [1, 2, 4]
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from typing import Any

from helpers.core.chat import chat_messages
from helpers.infer.speed import timed_generate


def _routers(model: Any) -> list[Any]:
    return [m for name, m in model.named_modules() if name.endswith("mlp.gate") and hasattr(m, "top_k")]


def measured_distinct_experts(model: Any, inputs: Any, new_tokens: int = 8) -> dict[str, Any]:
    """Distinct experts per layer per decode step, read from the routers' top-k indices during `generate`.

    Returns the mean over decode steps and layers, the per-step values, the batch, top-k and expert count.
    A model without a router (dense) raises ValueError.
    """
    import torch

    routers = _routers(model)
    if not routers:
        raise ValueError("this model has no MoE router (mlp.gate): distinct experts apply to the MoE only")
    batch = int(inputs["input_ids"].shape[0])
    seen: list[int] = []

    def hook(_module: Any, _args: Any, output: Any) -> None:
        indices = output[-1]
        if indices.shape[0] == batch:  # a decode step: one row per sequence (prefill has more)
            seen.append(int(torch.unique(indices).numel()))

    handles = [r.register_forward_hook(hook) for r in routers]
    try:
        timed_generate(model, inputs, new_tokens)
    finally:
        for h in handles:
            h.remove()
    per_step = [
        statistics.mean(seen[i : i + len(routers)])
        for i in range(0, len(seen) - len(routers) + 1, len(routers))
    ]
    return {
        "batch": batch,
        "top_k": routers[0].top_k,
        "num_experts": routers[0].num_experts,
        "mean_distinct": statistics.mean(seen),
        "per_step": per_step,
    }


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _batch_inputs(processor: Any, requests: list[tuple[list[Any], str]], side: str, kwargs: dict[str, Any]):
    old = processor.tokenizer.padding_side
    processor.tokenizer.padding_side = side
    try:
        return processor.apply_chat_template(
            [chat_messages(imgs, p) for imgs, p in requests],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            padding=True,
            processor_kwargs=kwargs or None,
        )
    finally:
        processor.tokenizer.padding_side = old


def padding_comparison(
    model: Any,
    processor: Any,
    requests: list[tuple[list[Any], str]],
    new_tokens: int = 8,
    processor_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Each request's greedy tokens alone, then in one batch padded left and right; row by row equality.

    Returns `alone`, `left`, `right` (token lists per row), `left_identical`, `right_identical`,
    `right_rows_differing` and `warnings` (what Transformers logged during the right-padded call).
    """
    from helpers.core.chat import prepare_inputs

    kwargs = dict(processor_kwargs or {})
    alone = []
    for imgs, prompt in requests:
        inputs = prepare_inputs(processor, imgs, prompt, **kwargs)
        alone.append(timed_generate(model, inputs, new_tokens)["tokens"][0])
    left = timed_generate(model, _batch_inputs(processor, requests, "left", kwargs), new_tokens)["tokens"]
    right_inputs = _batch_inputs(processor, requests, "right", kwargs)
    handler = _Captured()
    root = logging.getLogger("transformers")
    root.addHandler(handler)
    try:
        right = timed_generate(model, right_inputs, new_tokens)["tokens"]
    finally:
        root.removeHandler(handler)
    return {
        "alone": alone,
        "left": left,
        "right": right,
        "prompt_lengths": [int(n) for n in right_inputs["attention_mask"].sum(dim=1)],
        "left_identical": left == alone,
        "right_identical": right == alone,
        "right_rows_differing": [i for i, (r, a) in enumerate(zip(right, alone, strict=True)) if r != a],
        "warnings": [m for m in handler.messages if "padding" in m],
    }


def batch_sweep(
    model: Any, make_inputs: Callable[[int], Any], batches: list[int], new_tokens: int = 10, rounds: int = 2
) -> list[dict[str, Any]]:
    """Decode and prefill throughput (all rows) per batch size, interleaved over `rounds`, medians.

    `make_inputs(batch)` returns the model inputs for that batch. Each row also has `vs_batch1`.
    """
    inputs = {b: make_inputs(b) for b in batches}
    timed_generate(model, inputs[batches[0]], 3)  # warm-up
    runs: dict[int, list[dict[str, Any]]] = {b: [] for b in batches}
    for _ in range(rounds):
        for b in batches:
            runs[b].append(timed_generate(model, inputs[b], new_tokens))
    rows = [
        {
            "batch": b,
            "prompt_tokens": runs[b][0]["prompt_tokens"],
            "decode_tok_s": statistics.median(r["decode_tok_s"] for r in runs[b]),
            "prefill_tok_s": statistics.median(r["prefill_tok_s"] for r in runs[b]),
        }
        for b in batches
    ]
    one = rows[0]["decode_tok_s"]
    for row in rows:
        row["vs_batch1"] = row["decode_tok_s"] / one
    return rows
