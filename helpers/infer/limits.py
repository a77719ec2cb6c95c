"""Input limits for one inference request, checked before any model is loaded or any pixel is decoded
beyond the image itself: images (a file, decodable, at most PIL's decompression-bomb limit, aspect ratio at
most 200 as Qwen's resize requires), the prompt's length, pixel budgets, the token budget and the timeout.
Each violation is one `InputLimitError` line naming the option and what to give instead.

Example:
    >>> check_numbers(max_new_tokens=64, min_pixels=None, max_pixels=1024 * 1024, timeout=30.0)
    >>> check_numbers(max_new_tokens=10**12, min_pixels=None, max_pixels=None, timeout=30.0)
    Traceback (most recent call last):
    helpers.infer.limits.InputLimitError: --max-new-tokens 1000000000000: give a whole number between 1 and
    32,768
"""

from __future__ import annotations

import math
from pathlib import Path

from helpers.core.errors import WorkbookError

MAX_NEW_TOKENS = 32_768
MAX_PROMPT_CHARS = 200_000  # far more than any context holds once tokenized; refused before tokenizing
MAX_BUDGET_PIXELS = 16_777_216  # the processor's longest_edge: the most pixels one image is resized to
MAX_IMAGE_PIXELS = 89_478_485  # PIL's decompression-bomb threshold (Image.MAX_IMAGE_PIXELS)
MAX_ASPECT = 200  # Qwen's smart_resize refuses a longer/shorter side ratio above 200
MAX_TIMEOUT_S = 3600.0


class InputLimitError(WorkbookError, ValueError):
    """One request input is outside what the workbook accepts."""


def _count(flag: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputLimitError(f"{flag} {value!r}: give a whole number between {low:,} and {high:,}")


def check_numbers(
    max_new_tokens: int, min_pixels: int | None, max_pixels: int | None, timeout: float | None
) -> None:
    """Token budget, pixel budgets and timeout, each within its bounds (see the module docstring)."""
    _count("--max-new-tokens", max_new_tokens, 1, MAX_NEW_TOKENS)
    for flag, v in (("--min-pixels", min_pixels), ("--max-pixels", max_pixels)):
        if v is not None:
            _count(flag, v, 1, MAX_BUDGET_PIXELS)
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        raise InputLimitError(f"--min-pixels {min_pixels:,} is above --max-pixels {max_pixels:,}: swap them")
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout)):
        raise InputLimitError(
            f"--timeout {timeout!r}: give a number of seconds between 0 and {MAX_TIMEOUT_S:g}"
        )
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_S:
        raise InputLimitError(
            f"--timeout {timeout!r}: give a number of seconds between 0 and {MAX_TIMEOUT_S:g}"
        )


def check_prompt(prompt: str) -> None:
    """A non-empty prompt of at most MAX_PROMPT_CHARS characters."""
    if not prompt.strip():
        raise InputLimitError("--prompt is empty: ask a question about the image")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputLimitError(f"--prompt has {len(prompt):,} characters: keep it under {MAX_PROMPT_CHARS:,}")


def check_image(path: str | Path) -> tuple[int, int]:
    """Open and fully decode one image file within the limits; returns (width, height).

    Example:
        >>> import tempfile, PIL.Image
        >>> p = tempfile.mktemp(suffix=".png")
        >>> PIL.Image.new("RGB", (64, 48)).save(p)
        >>> check_image(p)
        (64, 48)
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputLimitError(f"--image {path}: no such file; give the path of a PNG or JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise InputLimitError(
                        f"--image {path}: {w}x{h} is {w * h:,} pixels, over the {MAX_IMAGE_PIXELS:,}-pixel "
                        "decompression-bomb limit; resize it first"
                    )
                if max(w, h) > MAX_ASPECT * min(w, h):
                    raise InputLimitError(
                        f"--image {path}: {w}x{h} has an aspect ratio over {MAX_ASPECT}; crop or pad it first"
                    )
                im.load()  # decode every byte now: a truncated file fails here, not inside generate
    except InputLimitError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InputLimitError(
            f"--image {path}: not a readable image ({type(err).__name__}); give a PNG or JPEG"
        ) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise InputLimitError(
            f"--image {path}: the image is damaged or truncated ({err}); give a complete file"
        ) from None
    return w, h
