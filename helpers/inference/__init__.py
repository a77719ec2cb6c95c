"""Run one image+text request through the chat template and `generate`, and say what it cost.

CLI (MODEL: tiny, a Hub id, a local folder, or the http(s) URL of an OpenAI-compatible server):
    python -m helpers.inference --model tiny --image a.png [--image b.png] --prompt "合计金额是多少？" --json

Example:
    >>> from PIL import Image
    >>> from helpers.settings import select_model
    >>> from helpers.loading import load_model
    >>> model, processor, _ = load_model(select_model("tiny"))
    >>> result = generate_answer(model, processor, [Image.new("RGB", (320, 240))], "Describe it.")
    >>> result.visual_tokens
    [80]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from helpers.prepare import size_kwargs


@dataclass
class GenerationResult:
    """An answer and what it took: prompt tokens, visual tokens per image, seconds."""

    text: str
    prompt_tokens: int
    visual_tokens: list[int] = field(default_factory=list)
    new_tokens: int = 0
    seconds: float = 0.0


def chat_messages(images: list[Any], prompt: str, system: str | None = None) -> list[dict[str, Any]]:
    """Messages in the chat-template format: one image entry per image, then the text.

    Example:
        >>> [c["type"] for c in chat_messages([object(), object()], "Compare.")[0]["content"]]
        ['image', 'image', 'text']
    """
    content = [{"type": "image", "image": img} for img in images] + [{"type": "text", "text": prompt}]
    messages = [{"role": "user", "content": content}]
    if system:
        messages.insert(0, {"role": "system", "content": [{"type": "text", "text": system}]})
    return messages


def _processor_kwargs(min_pixels: int | None, max_pixels: int | None, extra: dict[str, Any]) -> dict[str, Any]:
    """A min/max-pixel budget as the processor's ``size=`` (5.23 deprecates the bare keywords); an explicit
    ``size=`` in `extra` wins."""
    return {**size_kwargs(min_pixels, max_pixels), **extra}


def _apply_template(processor: Any, conversation: Any, processor_kwargs: dict[str, Any]):
    return processor.apply_chat_template(
        conversation,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs=processor_kwargs or None,
    )


def prepare_inputs(processor: Any, images: list[Any], prompt: str, min_pixels: int | None = None,
                   max_pixels: int | None = None, **processor_kwargs: Any):
    """Tokenised model inputs through `apply_chat_template` (the processor expands each image pad).

    `min_pixels`/`max_pixels` set the per-image pixel budget (passed on as ``size=``); other keywords
    (``size=`` itself included) go to the processor unchanged.
    """
    return _apply_template(processor, chat_messages(images, prompt),
                           _processor_kwargs(min_pixels, max_pixels, processor_kwargs))


def visual_tokens_of(inputs: Any, merge_size: int = 2) -> list[int]:
    """Visual tokens per image, read from `image_grid_thw` (t·h·w / merge²)."""
    grid = inputs.get("image_grid_thw")
    if grid is None:
        return []
    return [int(row.prod()) // merge_size**2 for row in grid]


def generate_answers(model: Any, processor: Any, requests: list[tuple[list[Any], str]], max_new_tokens: int = 16,
                     min_pixels: int | None = None, max_pixels: int | None = None,
                     **processor_kwargs: Any) -> list[GenerationResult]:
    """Greedy generation for (images, prompt) requests through one `generate` call; decoded text and costs each.

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
        inputs = _apply_template(processor, [chat_messages(imgs, p) for imgs, p in requests], {"padding": True, **kwargs})
    else:
        inputs = _apply_template(processor, chat_messages(*requests[0]), kwargs)
    inputs = inputs.to(model.device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    seconds = time.perf_counter() - start
    width = inputs["input_ids"].shape[1]
    per_image = visual_tokens_of(inputs, processor.image_processor.merge_size)
    pad = processor.tokenizer.pad_token_id if batched else None
    results, cursor = [], 0
    for row, (imgs, _prompt) in enumerate(requests):
        new = out[row, width:]
        results.append(GenerationResult(
            text=processor.decode(new, skip_special_tokens=True),
            prompt_tokens=int(inputs["attention_mask"][row].sum()) if batched else int(width),
            visual_tokens=per_image[cursor : cursor + len(imgs)],
            new_tokens=int((new != pad).sum()) if pad is not None else int(new.numel()),
            seconds=seconds / len(requests),
        ))
        cursor += len(imgs)
    return results


def generate_answer(
    model: Any, processor: Any, images: list[Any], prompt: str, max_new_tokens: int = 16, **processor_kwargs: Any
) -> GenerationResult:
    """Greedy generation for one request; returns the decoded new text and its costs."""
    return generate_answers(model, processor, [(images, prompt)], max_new_tokens, **processor_kwargs)[0]
