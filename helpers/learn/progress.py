"""The reader's progress: every attempt and result, in one local JSON file under .cache/ (never sent
anywhere).

File: ``.cache/learn/progress.json`` (``QWEN3VL_PROGRESS`` names another file), written atomically (a
temporary sibling, then `os.replace`), so an interrupted write never leaves half a file. Per exercise:
attempts, wrong answers, whether it was answered right or revealed, first and last time.

CLI: ``qwen3vl progress`` prints one DataFrame per chapter (done / tried / not started);
``qwen3vl progress --json`` prints the same as JSON, for a team lead who collects them.

Example:
    >>> import os, tempfile
    >>> before = os.environ.get("QWEN3VL_PROGRESS")
    >>> os.environ["QWEN3VL_PROGRESS"] = os.path.join(tempfile.mkdtemp(), "p.json")
    >>> record_attempt("01.1", ok=False)["wrong"]
    1
    >>> status_of(load_progress()["exercises"].get("01.1"))
    'tried'
    >>> restore = {} if before is None else {"QWEN3VL_PROGRESS": before}
    >>> _ = os.environ.pop("QWEN3VL_PROGRESS")
    >>> os.environ.update(restore)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from helpers.core import paths
from helpers.core.errors import WorkbookError

ENV_VAR = "QWEN3VL_PROGRESS"
VERSION = 1


def progress_path() -> Path:
    """Where progress is kept: $QWEN3VL_PROGRESS, else .cache/learn/progress.json."""
    return Path(os.environ.get(ENV_VAR) or paths.CACHE_DIR / "learn" / "progress.json")


def load_progress() -> dict[str, Any]:
    """The progress file's contents (an empty record when there is none yet); one-line error if unreadable."""
    path = progress_path()
    if not path.exists():
        return {"version": VERSION, "exercises": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise WorkbookError(
            f"progress file {path} is unreadable ({type(err).__name__}): delete it to start again"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
        raise WorkbookError(f"progress file {path} is not a progress record: delete it to start again")
    return data


def _save(data: dict[str, Any]) -> None:
    path = progress_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_attempt(exercise_id: str, ok: bool | None, revealed: bool = False) -> dict[str, Any]:
    """Add one attempt (ok True/False) or a reveal (ok None, revealed True); returns the exercise's record.

    Example:
        >>> record_attempt("01.1", ok=True)["right"]      # doctest: +SKIP
        True
    """
    data = load_progress()
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    entry = data["exercises"].setdefault(
        exercise_id, {"attempts": 0, "wrong": 0, "right": False, "revealed": False, "first": now}
    )
    if ok is not None:
        entry["attempts"] += 1
        entry["wrong"] += 0 if ok else 1
        entry["right"] = entry["right"] or ok
    entry["revealed"] = entry["revealed"] or revealed
    entry["last"] = now
    _save(data)
    return entry


def status_of(entry: dict[str, Any] | None) -> str:
    """'done' (answered right), 'tried' (attempted or revealed, not yet right) or 'not started'."""
    if not entry:
        return "not started"
    return (
        "done"
        if entry.get("right")
        else "tried"
        if entry.get("attempts") or entry.get("revealed")
        else "not started"
    )


def progress_rows() -> list[dict[str, Any]]:
    """One row per registered exercise: chapter, id, status, attempts, wrong, revealed, question.

    Example:
        >>> {r["status"] for r in progress_rows()} <= {"done", "tried", "not started"}
        True
    """
    from .registry import exercises

    done = load_progress()["exercises"]
    rows = []
    for ex in exercises():
        entry = done.get(ex.id) or {}
        rows.append(
            {
                "chapter": ex.chapter,
                "exercise": ex.id,
                "status": status_of(entry),
                "attempts": entry.get("attempts", 0),
                "wrong": entry.get("wrong", 0),
                "revealed": entry.get("revealed", False),
                "question": ex.question.split("\n")[0][:70],
            }
        )
    return rows


def progress_tables() -> dict[str, Any]:
    """chapter -> DataFrame of its exercises (what `qwen3vl progress` prints)."""
    import pandas as pd

    frame = pd.DataFrame(progress_rows())
    return {ch: part.drop(columns="chapter").reset_index(drop=True) for ch, part in frame.groupby("chapter")}


def main(argv: list[str] | None = None, prog: str = "qwen3vl progress") -> int:
    """`qwen3vl progress [--json]`: 0 ok, 2 when the progress file is unreadable."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Your exercise progress, per chapter (local file)."
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    try:
        rows = progress_rows()
    except WorkbookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        chapters: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            chapters.setdefault(row.pop("chapter"), []).append(row)
        totals = {s: sum(r["status"] == s for r in rows) for s in ("done", "tried", "not started")}
        print(json.dumps({"file": str(progress_path()), "totals": totals, "chapters": chapters}, indent=1))
        return 0
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_colwidth", 70):
        for chapter, table in progress_tables().items():
            counts = table["status"].value_counts().to_dict()
            print(f"\nchapter {chapter}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
            print(table.to_string(index=False))
    print(f"\n(progress file: {progress_path()})")
    return 0
