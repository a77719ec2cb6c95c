"""The registry of exercises: one `Exercise` per id ("01.2"), declared with the `exercise` decorator.

A chapter's exercises live in one module ``helpers/learn/chNN.py``; `exercises()` imports every such module
it finds, so a new chapter's exercises need one new file and nothing else here. The decorated function
computes the reference answer with the workbook's helpers; it runs only when the reader checks an answer.

Adding chapter 05 (or 06): write ``helpers/learn/ch05.py`` with 3-5 ``@exercise("05.1", question, section,
judge, explanation, case=…)`` functions (judges from `helpers.learn.judges`, or a function returning a
`Verdict`), add ``ch05`` to the learn row of helpers/__init__.py, give each id a (right, wrong) pair in
``SOLUTIONS`` of tests/test_exercises.py (the test fails until every registered id has one), and run
``python tools/exercise_cells.py`` to append the cells to notebooks/05_*.ipynb.

Example:
    >>> ex = get("01.1")
    >>> ex.chapter, ex.section.startswith("01")
    ('01', True)
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from helpers.core.errors import WorkbookError

ID = re.compile(r"^(?P<chapter>\d\d)\.(?P<number>\d+)$")
CHAPTER_MODULE = re.compile(r"^ch\d\d$")


@dataclass(frozen=True)
class Verdict:
    """A judge's decision: right or wrong, and one line saying what is off (never the answer itself)."""

    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Exercise:
    """One exercise: the question, the section to re-read, how to compute and judge its answer.

    reference: computes the reference answer (helpers, at check time); judge(answer, reference) -> Verdict;
    explanation: shown after a right answer or three wrong ones, ``{reference}`` filled in;
    case: builds the exercise's own material (a broken checkpoint, a report, an image …), or None.
    """

    id: str
    question: str
    section: str
    reference: Callable[[], Any]
    judge: Callable[[Any, Any], Verdict]
    explanation: str
    case: Callable[[], Any] | None = None
    answer_form: str = "a number"

    @property
    def chapter(self) -> str:
        return self.id.split(".")[0]


_REGISTRY: dict[str, Exercise] = {}


def exercise(
    id: str,
    question: str,
    section: str,
    judge: Callable[[Any, Any], Verdict],
    explanation: str,
    case: Callable[[], Any] | None = None,
    answer_form: str = "a number",
) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register the decorated function as the reference answer of exercise `id`.

    Example:
        >>> from helpers.learn.judges import number
        >>> @exercise("99.1", "What is 6 x 7?", "99 · Arithmetic", number(), "6 x 7 = {reference}.")
        ... def _forty_two():
        ...     return 6 * 7
        >>> get("99.1").reference()
        42
        >>> _ = _REGISTRY.pop("99.1")
    """
    if not ID.match(id):
        raise ValueError(f"exercise id {id!r}: write it as CHAPTER.NUMBER, e.g. '01.2'")

    def register(fn: Callable[[], Any]) -> Callable[[], Any]:
        if id in _REGISTRY and _REGISTRY[id].reference.__qualname__ != fn.__qualname__:
            raise ValueError(f"exercise {id} is declared twice")
        _REGISTRY[id] = Exercise(id, question, section, fn, judge, explanation, case, answer_form)
        return fn

    return register


def _load_chapters() -> None:
    package = importlib.import_module(__package__ or "helpers.learn")
    for info in pkgutil.iter_modules(package.__path__):
        if CHAPTER_MODULE.match(info.name):
            importlib.import_module(f"{package.__name__}.{info.name}")


def exercises(chapter: str | None = None) -> list[Exercise]:
    """Every registered exercise (or one chapter's), in id order.

    Example:
        >>> [e.id for e in exercises("01")][:2]
        ['01.1', '01.2']
    """
    _load_chapters()
    found = [e for e in _REGISTRY.values() if chapter is None or e.chapter == chapter]
    return sorted(found, key=lambda e: (e.chapter, int(e.id.split(".")[1])))


def get(exercise_id: str) -> Exercise:
    """The exercise `exercise_id`; a one-line WorkbookError naming the known ids otherwise."""
    _load_chapters()
    if exercise_id not in _REGISTRY:
        known = ", ".join(e.id for e in exercises())
        raise WorkbookError(f"exercise {exercise_id!r} does not exist; choose one of: {known}")
    return _REGISTRY[exercise_id]
