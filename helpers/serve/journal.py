"""The results file of a batch run: JSON Lines, appended and fsync'd one record at a time, so a crash or
Ctrl-C loses at most the line being written, and a rerun knows exactly which documents are done.

A kill can leave a half-written last line; `open_journal` detects it (no newline at the end, or not JSON)
and cuts the file back to the last complete record, so that document is simply redone. A bad line in the
middle is not from a kill: we refuse to touch the file and say so.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
    >>> journal = open_journal(path)
    >>> journal.append({"doc_id": "a", "ok": True})
    >>> sorted(open_journal(path).done)
    ['a']
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError


class JournalError(WorkbookError, ValueError):
    """The results file is damaged in a way a kill cannot cause; the message says which line."""


@dataclass
class Journal:
    """An open results file: the ids already in it, and a thread-safe `append`."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    repaired: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def done(self) -> set[str]:
        return {r["doc_id"] for r in self.records}

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line, then flush and fsync before returning; never the same id twice."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            if record["doc_id"] in self.done:
                raise JournalError(f"{record['doc_id']!r} is already in {self.path}: not writing it twice")
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self.records.append(record)


def _parse(path: Path) -> tuple[list[dict[str, Any]], int | None]:
    """Records, and the byte offset to cut at when the last line is half-written (else None)."""
    data = path.read_bytes()
    records, offset = [], 0
    lines = data.split(b"\n")
    for i, raw in enumerate(lines):
        last = i == len(lines) - 1
        if last and raw == b"":
            break
        try:
            rec = json.loads(raw.decode("utf-8"))
            if not isinstance(rec, dict) or "doc_id" not in rec:
                raise ValueError("no doc_id")
        except (ValueError, UnicodeDecodeError):
            if last:
                return records, offset
            raise JournalError(
                f"{path} line {i + 1} is not a result record: move the file aside or fix that line"
            ) from None
        if last:  # complete JSON but no newline: the write was cut before its end
            return records, offset
        records.append(rec)
        offset += len(raw) + 1
    return records, None


def open_journal(path: str | Path, retry_failed: bool = False) -> Journal:
    """Open (or create) a results file; cut a half-written last line; with `retry_failed`, drop the failure
    records (rewritten atomically) so those documents are tried again."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch()
        return Journal(path)
    records, cut = _parse(path)
    if cut is not None:
        with open(path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
    if retry_failed and any(not r.get("ok") for r in records):
        records = [r for r in records if r.get("ok")]
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return Journal(path, records, repaired=cut is not None)
