"""The proof a repair worked: logits of a fixed input (text only, and text + a small image).

Example:
    >>> a = reference_logits(".cache/fixtures/tiny-moe")            # doctest: +SKIP
    >>> max_abs_diff(a, reference_logits("repaired"))                # doctest: +SKIP
    0.0
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

PROMPT = "Describe the picture in one sentence."


@functools.lru_cache(maxsize=1)
def _inputs() -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    from helpers.core.chat import prepare_inputs
    from helpers.core.fixtures import build_processor

    processor = build_processor()
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    return {
        "text": prepare_inputs(processor, [], PROMPT),
        "image": prepare_inputs(processor, [image], PROMPT),
    }


def model_logits(model: Any) -> dict[str, Any]:
    """{"text": logits, "image": logits} of a loaded model on the fixed inputs (float32, CPU)."""
    import torch

    out = {}
    with torch.no_grad():
        for name, inputs in _inputs().items():
            out[name] = model(**inputs).logits.float()
    return out


def reference_logits(source: str | Path, **from_pretrained_kwargs: Any) -> dict[str, Any]:
    """Load `source` with plain from_pretrained (no strictness: to measure silent damage too) and
    return its logits on the fixed inputs. Cached per folder state when no keyword is given."""
    if not from_pretrained_kwargs:
        folder = Path(source)
        stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.iterdir()))
        return _cached_logits(str(folder.resolve()), stamp)
    return _logits(source, **from_pretrained_kwargs)


@functools.lru_cache(maxsize=4)
def _cached_logits(source: str, stamp: tuple) -> dict[str, Any]:
    return _logits(source)


def _logits(source: str | Path, **from_pretrained_kwargs: Any) -> dict[str, Any]:
    from transformers import AutoModelForImageTextToText

    from helpers.load.loading import quiet_transformers

    with quiet_transformers():
        model = AutoModelForImageTextToText.from_pretrained(
            str(source), dtype="auto", **from_pretrained_kwargs
        )
    return model_logits(model.eval())


def nonfinite_where(logits: dict[str, Any]) -> str | None:
    """Where the first non-finite logit is ("image[0, 3, 17] = nan"), or None when every logit is finite.

    Example:
        >>> import torch
        >>> nonfinite_where({"text": torch.tensor([[1.0, float("nan")]])})
        'text[0, 1] = nan'
    """
    import torch

    for k, t in logits.items():
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            pos = [int(i) for i in bad.nonzero()[0]]
            return f"{k}[{', '.join(map(str, pos))}] = {float(t[tuple(pos)])}"
    return None


def max_abs_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Largest absolute logits difference over both inputs; inf when shapes differ or when any logit of
    either side is non-finite (NaN never compares as "equal": `max(0.0, nan)` would return 0.0).

    Example:
        >>> import torch
        >>> max_abs_diff({"t": torch.tensor([1.0])}, {"t": torch.tensor([float("nan")])})
        inf
    """
    import torch

    worst = 0.0
    if set(a) != set(b):
        return float("inf")
    for k in a:
        if a[k].shape != b[k].shape:
            return float("inf")
        if not (bool(torch.isfinite(a[k]).all()) and bool(torch.isfinite(b[k]).all())):
            return float("inf")
        diff = float((a[k] - b[k]).abs().max()) if a[k].numel() else 0.0
        worst = diff if not diff <= worst else worst  # a NaN difference wins, never disappears
    return worst
