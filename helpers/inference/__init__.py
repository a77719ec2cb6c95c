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


def prepare_inputs(processor: Any, images: list[Any], prompt: str, **processor_kwargs: Any):
    """Tokenised model inputs through `apply_chat_template` (the processor expands each image pad)."""
    return processor.apply_chat_template(
        chat_messages(images, prompt),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs=processor_kwargs or None,
    )


def visual_tokens_of(inputs: Any, merge_size: int = 2) -> list[int]:
    """Visual tokens per image, read from `image_grid_thw` (t·h·w / merge²)."""
    grid = inputs.get("image_grid_thw")
    if grid is None:
        return []
    return [int(row.prod()) // merge_size**2 for row in grid]


def generate_answer(
    model: Any, processor: Any, images: list[Any], prompt: str, max_new_tokens: int = 16, **processor_kwargs: Any
) -> GenerationResult:
    """Greedy generation for one request; returns the decoded new text and its costs."""
    import torch

    inputs = prepare_inputs(processor, images, prompt, **processor_kwargs).to(model.device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    seconds = time.perf_counter() - start
    prompt_len = inputs["input_ids"].shape[1]
    new = out[0, prompt_len:]
    return GenerationResult(
        text=processor.decode(new, skip_special_tokens=True),
        prompt_tokens=int(prompt_len),
        visual_tokens=visual_tokens_of(inputs, processor.image_processor.merge_size),
        new_tokens=int(new.numel()),
        seconds=seconds,
    )
