"""The workbook's own errors: one clear line that says what to change.

In a notebook IPython calls `_render_traceback_`, so a learner sees that one line instead of a
40-line traceback; on the command line `cli_exit` prints it and exits with code 2.

Example:
    >>> err = WorkbookError("QWEN3VL_MODEL='x' is not a model: use QWEN3VL_MODEL=tiny")
    >>> err._render_traceback_()
    ["WorkbookError: QWEN3VL_MODEL='x' is not a model: use QWEN3VL_MODEL=tiny"]
"""

from __future__ import annotations

import sys


class WorkbookError(Exception):
    """An error the user can fix; its message says how."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ModelSelectionError(WorkbookError, ValueError):
    """The model setting names nothing loadable here."""


class LoadingReportError(WorkbookError, RuntimeError):
    """`from_pretrained` reported missing, unexpected or mismatched weights (they would be random)."""


def cli_exit(err: Exception, code: int = 2) -> int:
    """Print a one-line error to stderr and return the exit code for `sys.exit`."""
    print(f"error: {err}", file=sys.stderr)
    return code
