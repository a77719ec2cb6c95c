"""From images and a prompt to model inputs: the chat template, the pixel budget as processor keywords,
and the visual tokens the processor produced. Every path that feeds the model goes through here.

Example:
    >>> [c["type"] for c in chat_messages([object()], "Describe it.")[0]["content"]]
    ['image', 'text']
"""

from __future__ import annotations

from typing import Any

from helpers.core.configs import default_rules


def size_kwargs(min_pixels: int | None = None, max_pixels: int | None = None) -> dict[str, Any]:
    """Processor keywords for a pixel budget, in the form 5.23 wants (``size=``; bare min/max_pixels
    still work but warn that they are deprecated).

    Example:
        >>> size_kwargs(max_pixels=512 * 512)
        {'size': {'shortest_edge': 65536, 'longest_edge': 262144}}
    """
    if min_pixels is None and max_pixels is None:
        return {}
    rules = default_rules()
    lo = rules.min_pixels if min_pixels is None else min_pixels
    hi = rules.max_pixels if max_pixels is None else max_pixels
    return {"size": {"shortest_edge": lo, "longest_edge": hi}}


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


def _processor_kwargs(
    min_pixels: int | None, max_pixels: int | None, extra: dict[str, Any]
) -> dict[str, Any]:
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


def prepare_inputs(
    processor: Any,
    images: list[Any],
    prompt: str,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    **processor_kwargs: Any,
):
    """Tokenised model inputs through `apply_chat_template` (the processor expands each image pad).

    `min_pixels`/`max_pixels` set the per-image pixel budget (passed on as ``size=``); other keywords
    (``size=`` itself included) go to the processor unchanged.
    """
    return _apply_template(
        processor, chat_messages(images, prompt), _processor_kwargs(min_pixels, max_pixels, processor_kwargs)
    )


def visual_tokens_of(inputs: Any, merge_size: int = 2) -> list[int]:
    """Visual tokens per image, read from `image_grid_thw` (t·h·w / merge²)."""
    grid = inputs.get("image_grid_thw")
    if grid is None:
        return []
    return [int(row.prod()) // merge_size**2 for row in grid]
