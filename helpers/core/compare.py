"""Compare two run records: which key figures differ, and what about the machines may explain it.

``qwen3vl compare A.json B.json [--html OUT]`` prints a DataFrame of differences and exits 0 when every
figure agrees (exact figures equal, tolerant ones within their tolerance) and every notebook has the same
status, 1 otherwise, 2 when a record cannot be read. Environment rows (library versions, GPUs, CPU, the
model's hash, the commit) are shown beside the figures to explain them; on their own they do not make two
runs differ.

Example:
    >>> a = {"notebooks": {"01": {"status": "ok", "figures": {"n": {"value": 3}}}}}
    >>> b = {"notebooks": {"01": {"status": "ok", "figures": {"n": {"value": 4}}}}}
    >>> compare_records(a, b)[["kind", "notebook", "figure", "A", "B"]].values.tolist()
    [['differs', '01', 'n', 3, 4]]
"""

from __future__ import annotations

import argparse
import html
import math
import sys
from pathlib import Path
from typing import Any

from helpers.core.run_record import RecordError, flatten, load_record

COLUMNS = ["kind", "notebook", "figure", "A", "B", "tolerance"]
FIGURE_KINDS = ("differs", "outside tolerance", "only in A", "only in B", "status")
# Keys that change on every run and explain nothing.
_IGNORED = ("created", "command", "notebooks")


def _tolerance(spec: dict[str, Any]) -> tuple[float | None, float | None]:
    return spec.get("rel_tol"), spec.get("abs_tol")


def _describe(rel: float | None, abs_: float | None) -> str:
    parts = [f"rel {rel:g}" if rel is not None else "", f"abs {abs_:g}" if abs_ is not None else ""]
    return " ".join(p for p in parts if p) or "exact"


def agree(a: Any, b: Any, rel_tol: float | None = None, abs_tol: float | None = None) -> bool:
    """Whether two figure values agree: equal when exact, within tolerance when a tolerance is given.

    Example:
        >>> agree(1.10, 1.0, rel_tol=0.15), agree(1.2, 1.0, rel_tol=0.15), agree(3, 3.0)
        (True, False, True)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if rel_tol is None and abs_tol is None:
        return a == b
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if not numeric:
        return a == b
    return math.isclose(a, b, rel_tol=rel_tol or 0.0, abs_tol=abs_tol or 0.0)


def compare_figures(notebook: str, a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Difference rows for one notebook's figures (name -> {"value", "rel_tol", "abs_tol"}); A's tolerance
    rules."""
    rows = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            rows.append({"kind": "only in A", "figure": name, "A": a[name].get("value"), "B": None})
            continue
        if name not in a:
            rows.append({"kind": "only in B", "figure": name, "A": None, "B": b[name].get("value")})
            continue
        rel, abs_ = _tolerance(a[name]) if any(_tolerance(a[name])) else _tolerance(b[name])
        va, vb = a[name].get("value"), b[name].get("value")
        if not agree(va, vb, rel, abs_):
            kind = "differs" if rel is None and abs_ is None else "outside tolerance"
            rows.append({"kind": kind, "figure": name, "A": va, "B": vb, "tolerance": _describe(rel, abs_)})
    for row in rows:
        row["notebook"] = notebook
        row.setdefault("tolerance", "")
    return rows


def environment_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Everything outside the notebooks that differs: environment, model setting and hash, seeds, git."""
    fa = flatten({k: v for k, v in a.items() if k not in _IGNORED})
    fb = flatten({k: v for k, v in b.items() if k not in _IGNORED})
    return [
        {
            "kind": "environment",
            "notebook": "",
            "figure": key,
            "A": fa.get(key),
            "B": fb.get(key),
            "tolerance": "",
        }
        for key in sorted(set(fa) | set(fb))
        if fa.get(key) != fb.get(key)
    ]


def compare_records(a: dict[str, Any], b: dict[str, Any]):
    """A DataFrame of every difference between two records (figure rows first, then environment rows)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    na, nb = a.get("notebooks", {}), b.get("notebooks", {})
    for name in sorted(set(na) | set(nb)):
        ea, eb = na.get(name), nb.get(name)
        if ea is None or eb is None:
            kind = "only in B" if ea is None else "only in A"
            status = (eb or ea).get("status")
            rows.append({"kind": kind, "notebook": name, "figure": "(notebook)", "A": None, "B": None})
            rows[-1]["A" if ea else "B"] = status
            continue
        if ea.get("status") != eb.get("status"):
            rows.append(
                {
                    "kind": "status",
                    "notebook": name,
                    "figure": "(status)",
                    "A": ea.get("status"),
                    "B": eb.get("status"),
                }
            )
        rows += compare_figures(name, ea.get("figures", {}), eb.get("figures", {}))
    rows += environment_rows(a, b)
    return pd.DataFrame(rows, columns=COLUMNS).fillna({"tolerance": ""})


def differ(table) -> bool:
    """Whether a comparison table holds a figure or status difference (environment rows alone do not
    count)."""
    return bool(table["kind"].isin(FIGURE_KINDS).any())


def _summary(a: dict[str, Any], table) -> str:
    figures = sum(len(e.get("figures", {})) for e in a.get("notebooks", {}).values())
    n_fig = int(table["kind"].isin(FIGURE_KINDS).sum())
    n_env = int((table["kind"] == "environment").sum())
    verdict = "DIFFER" if n_fig else "agree"
    return (
        f"records {verdict}: {n_fig} figure/status difference(s) over {figures} figures in "
        f"{len(a.get('notebooks', {}))} notebooks; {n_env} environment difference(s)"
    )


def write_html(table, out: Path, title: str) -> Path:
    """The comparison as one self-contained HTML page, written atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{table.to_html(index=False, na_rep='')}</body></html>\n"
    )
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None, prog: str = "qwen3vl compare") -> int:
    """`qwen3vl compare A.json B.json [--html OUT]`: 0 agree, 1 differ, 2 unreadable input."""
    import pandas as pd

    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="a run record (e.g. data/reference/run-record.json)")
    parser.add_argument("b", type=Path, help="another run record (e.g. build/run-record.json)")
    parser.add_argument("--html", type=Path, metavar="OUT", help="also write the table as an HTML page")
    args = parser.parse_args(argv)
    try:
        a, b = load_record(args.a), load_record(args.b)
    except RecordError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = compare_records(a, b)
    summary = _summary(a, table)
    print(f"A = {args.a}\nB = {args.b}\n{summary}")
    if len(table):
        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 60):
            print(table.to_string(index=False))
    if args.html:
        print(f"html: {write_html(table, args.html, f'{args.a.name} vs {args.b.name}: {summary}')}")
    return 1 if differ(table) else 0
