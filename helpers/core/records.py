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


def collect_figures(notebook: Any) -> dict[str, dict[str, Any]]:
    """The key figures an executed notebook declared: name -> {"value", "rel_tol", "abs_tol"}.

    `notebook` is a path to an executed .ipynb or its parsed JSON (a dict or an nbformat node). Outputs
    are read in cell order, so a figure recorded twice keeps its last value.

    Example:
        >>> nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data",
        ...       "metadata": {METADATA_KEY: {"name": "n", "value": 3, "rel_tol": None, "abs_tol": None}}}]}]}
        >>> collect_figures(nb)
        {'n': {'value': 3, 'rel_tol': None, 'abs_tol': None}}
    """
    if not isinstance(notebook, dict):
        import json
        from pathlib import Path

        notebook = json.loads(Path(notebook).read_text(encoding="utf-8"))
    figures: dict[str, dict[str, Any]] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = (output.get("metadata") or {}).get(METADATA_KEY)
            if isinstance(payload, dict) and payload.get("name"):
                figures[payload["name"]] = {k: payload.get(k) for k in ("value", "rel_tol", "abs_tol")}
    return figures
