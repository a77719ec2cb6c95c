"""Run one image+text request through the chat template and `generate`, and say what it cost.

CLI (MODEL: tiny, a Hub id, a local folder, or the http(s) URL of an OpenAI-compatible server):
    qwen3vl infer --model tiny --image a.png [--image b.png] --prompt "合计金额是多少？" --json

Example:
    >>> from PIL import Image
    >>> from helpers.core.model import select_model
    >>> from helpers.load.loading import load_model
    >>> model, processor, _ = load_model(select_model("tiny"))
    >>> result = generate_answer(model, processor, [Image.new("RGB", (320, 240))], "Describe it.")
    >>> result.visual_tokens
    [80]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from helpers.core.chat import _apply_template, _processor_kwargs, chat_messages, visual_tokens_of


@dataclass
class GenerationResult:
    """An answer and what it took: prompt tokens, visual tokens per image, seconds."""

    text: str
    prompt_tokens: int
    visual_tokens: list[int] = field(default_factory=list)
    new_tokens: int = 0
    seconds: float = 0.0
    flags: list[str] = field(default_factory=list)  # e.g. "repetition": cut at a loop, not a finished answer


def generate_answers(
    model: Any,
    processor: Any,
    requests: list[tuple[list[Any], str]],
    max_new_tokens: int = 16,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    sampling: Any = None,
    **processor_kwargs: Any,
) -> list[GenerationResult]:
    """Greedy generation for (images, prompt) requests through one `generate` call; decoded text and costs
    each. `sampling` (a helpers.infer.sampling.Sampling) switches to its settings and repetition guard
    instead.

    Several requests go as one left-padded batch: each row's prompt tokens come from its attention mask,
    its new tokens exclude padding, and the call's seconds are shared evenly. One request is not padded.
    """
    import torch

    if not requests:
        return []
    kwargs = _processor_kwargs(min_pixels, max_pixels, processor_kwargs)
    batched = len(requests) > 1
    if batched:
        processor.tokenizer.padding_side = "left"
        inputs = _apply_template(
            processor, [chat_messages(imgs, p) for imgs, p in requests], {"padding": True, **kwargs}
        )
    else:
        inputs = _apply_template(processor, chat_messages(*requests[0]), kwargs)
    inputs = inputs.to(model.device)
    width = inputs["input_ids"].shape[1]
    gen: dict[str, Any] = {"do_sample": False}  # scoring runs: greedy, reproducible
    if sampling is not None:
        from transformers import StoppingCriteriaList

        from helpers.infer.sampling import generate_kwargs, repetition_stopper

        gen = generate_kwargs(sampling, width)
        if sampling.guard:
            gen["stopping_criteria"] = StoppingCriteriaList([repetition_stopper(width)])
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, **gen)
    seconds = time.perf_counter() - start
    per_image = visual_tokens_of(inputs, processor.image_processor.merge_size)
    pad = processor.tokenizer.pad_token_id if batched else None
    results, cursor = [], 0
    for row, (imgs, _prompt) in enumerate(requests):
        new = out[row, width:]
        text, flags = processor.decode(new, skip_special_tokens=True), []
        if sampling is not None and sampling.guard:
            from helpers.infer.sampling import guard_repetition

            text, looped = guard_repetition(text)
            flags = ["repetition"] if looped else []
        results.append(
            GenerationResult(
                text=text,
                flags=flags,
                prompt_tokens=int(inputs["attention_mask"][row].sum()) if batched else int(width),
                visual_tokens=per_image[cursor : cursor + len(imgs)],
                new_tokens=int((new != pad).sum()) if pad is not None else int(new.numel()),
                seconds=seconds / len(requests),
            )
        )
        cursor += len(imgs)
    return results


def generate_answer(
    model: Any,
    processor: Any,
    images: list[Any],
    prompt: str,
    max_new_tokens: int = 16,
    **processor_kwargs: Any,
) -> GenerationResult:
    """Greedy generation for one request; returns the decoded new text and its costs."""
    return generate_answers(model, processor, [(images, prompt)], max_new_tokens, **processor_kwargs)[0]
