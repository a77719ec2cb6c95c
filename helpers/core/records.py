"""Key figures a chapter declares, so that a run leaves a record another machine can compare.

A notebook calls `record` right beside the cell that computes a figure. The figure is shown, and kept in
the executed notebook's output metadata (key ``qwen3vl_record``), where the runner collects it.

Example:
    >>> record("30b_params", 31_070_754_032)
    recorded 30b_params = 31070754032
    31070754032
"""

from __future__ import annotations

import math
import numbers
from typing import Any

METADATA_KEY = "qwen3vl_record"


def _plain(value: Any) -> Any:
    """A JSON-safe copy: numpy and torch scalars become Python numbers; non-finite floats are refused."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise ValueError(f"a recorded figure must be finite, got {value!r}")
        return float(value)
    raise TypeError(f"record a number, a bool or a string, not {type(value).__name__}")


def record(name: str, value: Any, *, rel_tol: float | None = None, abs_tol: float | None = None) -> Any:
    """Declare a key figure; return `value` unchanged so it can wrap an expression.

    Without a tolerance a figure is exact (parameter, token and tensor counts, scores on ground truth);
    with `rel_tol` / `abs_tol` it may vary between runs (ratios, timings) by that much.
    """
    if not name or not isinstance(name, str):
        raise ValueError("a recorded figure needs a name")
    payload = {"name": name, "value": _plain(value), "rel_tol": rel_tol, "abs_tol": abs_tol}
    text = f"recorded {name} = {payload['value']}"
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        print(text)
    else:
        from IPython.display import display

        display({"text/plain": text}, raw=True, metadata={METADATA_KEY: payload})
    return value
