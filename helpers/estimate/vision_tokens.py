"""Visual tokens per image, by the real Qwen2-VL/Qwen3-VL image-processor rules (no guessing).

The count comes from Transformers' own `smart_resize` (the function the image processor calls):
height and width are rounded to multiples of patch x merge (16 x 2 = 32 px for Qwen3-VL), scaled
down when the area exceeds `max_pixels` (the processor's ``size["longest_edge"]``, 16,777,216 px by
default) and up when below `min_pixels` (``size["shortest_edge"]``, 65,536 px). Each merged 32x32
block is one token in the language model; the vision encoder sees merge^2 = 4 patches per token.

Example:
    >>> visual_tokens(2480, 3508)            # an A4 page scanned at 300 dpi
    8580
    >>> visual_tokens(2480, 3508, max_pixels=1024 * 1024)
    988
    >>> visual_tokens(10, 10)                # tiny images are scaled up to min_pixels
    64
"""

from __future__ import annotations

from typing import Any

from helpers.core.configs import VisionRules, default_rules
from helpers.core.errors import WorkbookError

MAX_ASPECT = 200  # the image processor refuses images more elongated than this


def _check(width: int, height: int, min_pixels: int | None, max_pixels: int | None) -> None:
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1 or v > 1_000_000:
            raise WorkbookError(f"image {name} {v!r}: give a whole number of pixels between 1 and 1,000,000")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise WorkbookError(
            f"image {width}x{height}: the processor refuses aspect ratios over {MAX_ASPECT}:1; crop or pad it"
        )
    for name, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise WorkbookError(f"{name}={v!r}: give a positive whole number of pixels")
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        raise WorkbookError(f"min_pixels={min_pixels} is larger than max_pixels={max_pixels}: swap them")


def resized_size(
    width: int,
    height: int,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    rules: VisionRules | None = None,
) -> tuple[int, int]:
    """(width, height) the processor resizes an image to, by Transformers' `smart_resize`.

    Example:
        >>> resized_size(2480, 3508)
        (2496, 3520)
    """
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    rules = rules or default_rules()
    _check(width, height, min_pixels, max_pixels)
    lo = rules.min_pixels if min_pixels is None else min_pixels
    hi = rules.max_pixels if max_pixels is None else max_pixels
    h, w = smart_resize(height, width, factor=rules.factor, min_pixels=lo, max_pixels=hi)
    return int(w), int(h)


def vision_patches(
    width: int, height: int, min_pixels: int | None = None, max_pixels: int | None = None
) -> int:
    """Patches the vision encoder processes for one image (= visual tokens x merge^2).

    Example:
        >>> vision_patches(320, 240)
        320
    """
    rules = default_rules()
    w, h = resized_size(width, height, min_pixels, max_pixels, rules)
    return (w // rules.patch_size) * (h // rules.patch_size)


def visual_tokens(
    width: int | tuple[int, int] | list[tuple[int, int]],
    height: int | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> Any:
    """Tokens an image adds to the language model's sequence (what `<|image_pad|>` expands to): the one
    estimator, for one image (``width, height`` or a ``(width, height)`` pair: an int) or a list of sizes
    (a list). `helpers.core.chat.visual_tokens_of` reads the count the processor really produced.

    Example:
        >>> visual_tokens(320, 240), visual_tokens((320, 240))
        (80, 80)
        >>> visual_tokens([(640, 480), (2480, 3508)], max_pixels=1024 * 1024)
        [300, 988]
    """
    if isinstance(width, list):
        return [visual_tokens(w, h, min_pixels, max_pixels) for w, h in width]
    if isinstance(width, tuple):
        width, height = width
    if height is None:
        raise WorkbookError(
            f"visual_tokens({width!r}): give width and height, a (width, height) pair or a list"
        )
    return vision_patches(width, height, min_pixels, max_pixels) // default_rules().merge_size ** 2


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT`` (e.g. ``2480x3508``); a one-line WorkbookError otherwise.

    Example:
        >>> parse_size("2480x3508")
        (2480, 3508)
    """
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise WorkbookError(f"image size {text!r}: write it as WIDTHxHEIGHT in pixels, e.g. 2480x3508")
    w, h = (int(p) for p in parts)
    _check(w, h, None, None)
    return w, h
