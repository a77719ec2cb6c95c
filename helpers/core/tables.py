"""Tables are pandas DataFrames: `frame` builds one from rows, `styled` dresses it for a notebook
(units in headers, number formats, an optional highlighted column), `to_text` is what a CLI prints.

Example:
    >>> df = frame([{"shard": "a", "weights_bytes": 3 * 2**30}, {"shard": "b", "weights_bytes": 2**29}])
    >>> print(to_text(in_units(df)))
    shard  weights (GiB)
        a            3.0
        b            0.5
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from helpers.core.units import GIB, MIB

HIGHLIGHT = "background-color: #fff3cd; font-weight: bold"


def frame(rows: Iterable[Mapping[str, Any]], columns: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame from row dicts; `columns` picks and orders them (missing cells are empty).

    Example:
        >>> frame([{"a": 1}, {"a": 2, "b": "x"}], ["b", "a"]).columns.tolist()
        ['b', 'a']
    """
    rows = [dict(r) for r in rows]
    df = pd.DataFrame(rows)
    if columns is not None:
        df = df.reindex(columns=columns)
    return df


def in_units(df: pd.DataFrame, unit: str = "GiB", columns: list[str] | None = None) -> pd.DataFrame:
    """Byte columns (default: every column ending in `_bytes`) converted to `unit`, the unit in the header.

    Example:
        >>> in_units(frame([{"kv_cache_bytes": 2**20}]), "MiB").columns.tolist()
        ['kv_cache (MiB)']
    """
    scale = {"GiB": GIB, "MiB": MIB}[unit]
    names = columns if columns is not None else [c for c in df.columns if str(c).endswith("_bytes")]
    out = df.copy()
    for c in names:
        label = str(c)[: -len("_bytes")] if str(c).endswith("_bytes") else str(c)
        out[c] = out[c] / scale
        out = out.rename(columns={c: f"{label} ({unit})"})
    return out


def styled(
    df: pd.DataFrame,
    formats: Mapping[str, str] | None = None,
    highlight: str | None = None,
    caption: str | None = None,
    digits: int = 2,
):
    """A notebook view of `df`: numbers formatted (`digits`, or `formats` per column), index hidden,
    `highlight` (a column name) shaded where the lesson's point is.

    Example:
        >>> html = styled(frame([{"a": 1.23456, "b": 2}]), highlight="a").to_html()
        >>> "1.23" in html and "#fff3cd" in html
        True
    """
    numeric = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    fmt = {c: f"{{:,.{digits}f}}" for c in numeric}
    fmt.update(formats or {})
    style = df.style.format(fmt, na_rep="", escape="html").hide(axis="index")
    if highlight is not None:
        style = style.map(lambda _v: HIGHLIGHT, subset=[highlight])
    if caption:
        style = style.set_caption(caption)
    return style


def to_text(df: pd.DataFrame, max_colwidth: int | None = 80) -> str:
    """What a CLI prints: `DataFrame.to_string()` without the index, long cells cut at `max_colwidth`.

    Example:
        >>> to_text(frame([{"a": 1}]))
        ' a\\n 1'
    """
    return df.to_string(index=False, max_colwidth=max_colwidth)
