"""`check(id, answer)`: right or wrong, a hint on a wrong answer, the explanation after a right one (or three
wrong ones); `reveal(id)` shows the explanation at once; `case(id)` builds the exercise's own material.

The reference answer is computed by the workbook's helpers when `check` runs, on this machine; a blank
answer (None) is reported as "not answered" and computes nothing, so a chapter with blank exercise
cells runs headless.

Example:
    >>> r = check("01.1", None)
    01.1: not answered (write your answer in the cell above and run it again)
    >>> r.status
    'not answered'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpers.core.errors import WorkbookError

from .progress import record_attempt
from .registry import Exercise, Verdict, get

TRIES_BEFORE_EXPLAINING = 3


@dataclass
class CheckResult:
    """What `check` decided: status ('right', 'wrong', 'not answered'), the hint and explanation it gave."""

    id: str
    status: str
    message: str
    hint: str = ""
    explanation: str = ""
    wrong_tries: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "right"

    def _ipython_display_(self) -> None:  # already printed by check(); show nothing twice in a notebook
        return None


def _shown(reference: Any) -> str:
    if isinstance(reference, float):
        return f"{reference:,.4g}"
    if isinstance(reference, int) and not isinstance(reference, bool):
        return f"{reference:,}"
    return repr(reference) if not isinstance(reference, str) else reference


def explain(ex: Exercise, reference: Any) -> str:
    """The exercise's explanation with the reference answer (computed now) filled in."""
    return ex.explanation.format(reference=_shown(reference))


def check(exercise_id: str, answer: Any) -> CheckResult:
    """Judge `answer` to exercise `exercise_id`, print the verdict, record it in the progress file.

    Example:
        >>> check("01.1", 10).status           # doctest: +SKIP
        'wrong'
    """
    ex = get(exercise_id)
    if answer is None:
        result = CheckResult(
            ex.id,
            "not answered",
            f"{ex.id}: not answered (write your answer in the cell above and run it again)",
        )
        print(result.message)
        return result
    reference = ex.reference()
    try:
        verdict = ex.judge(answer, reference)
    except WorkbookError as err:  # the answer is unusable (a bad path, a size accelerate refuses …)
        verdict = Verdict(False, str(err).splitlines()[0])
    entry = record_attempt(ex.id, verdict.ok)
    if verdict.ok:
        explanation = explain(ex, reference)
        result = CheckResult(ex.id, "right", f"{ex.id}: right.\n{explanation}", explanation=explanation)
    else:
        hint = f"Re-read {ex.section}." + (f" ({verdict.detail})" if verdict.detail else "")
        lines = [f"{ex.id}: wrong. {hint}"]
        explanation = ""
        if entry["wrong"] >= TRIES_BEFORE_EXPLAINING and not entry["right"]:
            explanation = explain(ex, reference)
            lines.append(f"After {entry['wrong']} tries, the explanation:\n{explanation}")
        else:
            left = TRIES_BEFORE_EXPLAINING - entry["wrong"]
            lines.append(f"Try again ({left} more before the explanation), or call reveal({ex.id!r}).")
        result = CheckResult(ex.id, "wrong", "\n".join(lines), hint, explanation, entry["wrong"])
    print(result.message)
    return result


def reveal(exercise_id: str) -> CheckResult:
    """Print the explanation and the reference answer (computed now); recorded as revealed.

    Example:
        >>> reveal("01.1").status              # doctest: +SKIP
        'revealed'
    """
    ex = get(exercise_id)
    explanation = explain(ex, ex.reference())
    entry = record_attempt(ex.id, ok=None, revealed=True)
    result = CheckResult(
        ex.id, "revealed", f"{ex.id}: {explanation}", explanation=explanation, wrong_tries=entry["wrong"]
    )
    print(result.message)
    return result


def case(exercise_id: str) -> Any:
    """The exercise's own material (a folder, a report, an image …); None when it needs none.

    Example:
        >>> case("01.1") is None
        True
    """
    ex = get(exercise_id)
    return ex.case() if ex.case is not None else None
