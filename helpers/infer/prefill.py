"""Prefill and the pixel budget: the image processor's CPU time against the model's prefill, measured.

`budget_sweep` prepares one page at several `max_pixels` budgets and times the processor call and the
prefill (`generate` to its first step) separately, so each request's wall time splits into the two.
`processor_backends` times the torchvision-backed `Qwen2VLImageProcessor` (Transformers 5's default,
"fast") against the PIL one (`Qwen2VLImageProcessorPil`) on the same page, and a thread pool over many
pages against one page after another.

Example:
    >>> rows = budget_sweep(model, processor, page, [256 * 256, 1024 * 1024])  # doctest: +SKIP
    >>> rows[0]["visual_tokens"] < rows[1]["visual_tokens"]
    True
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from helpers.core.chat import prepare_inputs, size_kwargs, visual_tokens_of
from helpers.infer.speed import timed_generate


def _best_seconds(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def budget_sweep(
    model: Any,
    processor: Any,
    page: Any,
    budgets: list[int | None],
    prompt: str = "Read the page.",
    repeats: int = 2,
) -> list[dict[str, Any]]:
    """Per budget (None = the processor's own cap): visual tokens, processor seconds, prefill seconds, share.

    `processor_share` is processor / (processor + prefill): the part of the time to the first token that
    the CPU-side image processing takes.
    """
    rows = []
    for cap in budgets:
        kwargs = {} if cap is None else {"max_pixels": cap}
        proc_s = _best_seconds(lambda kw=kwargs: prepare_inputs(processor, [page], prompt, **kw), repeats)
        inputs = prepare_inputs(processor, [page], prompt, **kwargs)
        prefill = statistics.median(timed_generate(model, inputs, 3)["prefill_s"] for _ in range(repeats))
        vis = visual_tokens_of(inputs, processor.image_processor.merge_size)
        rows.append(
            {
                "max_pixels": cap,
                "visual_tokens": sum(vis),
                "prompt_tokens": int(inputs["input_ids"].shape[1]),
                "processor_s": proc_s,
                "prefill_s": prefill,
                "processor_share": proc_s / (proc_s + prefill),
            }
        )
    return rows


def processor_backends(
    processor: Any, pages: list[Any], max_pixels: int | None = None, workers: int = 2, repeats: int = 2
) -> list[dict[str, Any]]:
    """Seconds per page of the image processor: torchvision-backed vs PIL, and a thread pool over `pages`.

    Rows: backend, seconds_per_page, vs_pil (PIL seconds / this one's), same_pixels (equal to the
    default processor's pixel_values for the first page, within 1e-2).
    """
    import torch
    from transformers import Qwen2VLImageProcessorPil

    fast = processor.image_processor
    pil = Qwen2VLImageProcessorPil(**{k: v for k, v in fast.to_dict().items() if k in _pil_keys()})
    kwargs = size_kwargs(max_pixels=max_pixels) if max_pixels else {}

    def one(proc: Any, page: Any) -> Any:
        return proc(images=[page], return_tensors="pt", **kwargs)["pixel_values"]

    ref = one(fast, pages[0])
    same = bool(torch.allclose(one(pil, pages[0]).float(), ref.float(), atol=1e-2))
    t_fast = _best_seconds(lambda: one(fast, pages[0]), repeats)
    t_pil = _best_seconds(lambda: one(pil, pages[0]), repeats)

    def pooled() -> None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda p: one(fast, p), pages))

    t_serial = _best_seconds(lambda: [one(fast, p) for p in pages], 1) / len(pages)
    t_pool = _best_seconds(pooled, 1) / len(pages)
    rows = [
        ("PIL (Qwen2VLImageProcessorPil)", t_pil, same),
        ("torchvision (default)", t_fast, True),
        (f"torchvision, {len(pages)} pages one by one", t_serial, True),
        (f"torchvision, {len(pages)} pages, {workers}-thread pool", t_pool, True),
    ]
    return [
        {"backend": name, "seconds_per_page": s, "vs_pil": t_pil / s, "same_pixels": ok}
        for name, s, ok in rows
    ]


def _pil_keys() -> set[str]:
    return {
        "do_resize",
        "do_rescale",
        "rescale_factor",
        "do_normalize",
        "image_mean",
        "image_std",
        "do_convert_rgb",
        "size",
        "patch_size",
        "temporal_patch_size",
        "merge_size",
    }
