"""The random-weights banner: one notice, shown above any model output that comes from the tiny fixtures.

Every notebook that shows model output ends a cell with `random_weights_banner(choice)`: for the tiny
random-weight checkpoints it returns a Markdown block (Jupyter displays it), for a real model None (nothing).

Example:
    >>> from helpers.core.model import select_model
    >>> banner = random_weights_banner(select_model("tiny"))
    >>> "RANDOM" in banner.data and "noise" in banner.data
    True
    >>> from dataclasses import replace
    >>> random_weights_banner(replace(select_model("tiny"), random_weights=False)) is None
    True
"""

from __future__ import annotations

from typing import Any

BANNER = (
    "> **Banner — random weights.** `{spec}` is a tiny RANDOM-weight checkpoint of the exact Qwen3-VL "
    "architecture. Every answer, flag or figure it produces below is noise, never a reading of the inputs. "
    "What *is* real: the documents and their ground truth, the token and memory budgets, the loading and "
    "safety steps, the evaluator and the checks (shown on the ground truth and on damaged answers), and the "
    "OCR baseline's scores. Set `MODEL` (or `$QWEN3VL_MODEL`) to a Hub id or a folder for real answers."
)


def random_weights_banner(choice: Any) -> Any:
    """A Markdown banner when `choice` (a `ModelChoice`) has random weights, else None."""
    if not choice.random_weights:
        return None
    from IPython.display import Markdown

    return Markdown(BANNER.format(spec=choice.spec))
