"""Self-check exercises for every chapter: `check("01.2", answer)`, `reveal("01.2")`, `case("04.2")`,
progress.

The exercises at the end of every chapter, 00 to 09, make the reader apply the chapter to a new case;
each chapter's exercises live in one small module (`ch00` … `ch09`), registered with the `exercise` decorator
of `registry`. Answers are computed by the workbook's helpers when `check` runs (on the reader's
machine where the answer depends on it), judged by `judges`, and recorded by `progress` under `.cache/`
(`qwen3vl progress [--json]`). Nothing leaves the machine.

Example:
    >>> from helpers.learn import check
    >>> check("01.1", None).status
    01.1: not answered (write your answer in the cell above and run it again)
    'not answered'
"""

from .checker import CheckResult, case, check, reveal

__all__ = ["CheckResult", "case", "check", "reveal"]
