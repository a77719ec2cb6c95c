"""Exercises of chapter 09 (financial statements): a new five-page statement to read, reconcile and score.

The statement comes from the chapter's generator with a new seed (`CASE_SEED`); its figures are invented.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("09")]
    ['09.1', '09.2', '09.3']
"""

from __future__ import annotations

import functools
from typing import Any

from .judges import fields, number
from .registry import exercise

NB = "09 · Financial statements"
CASE_SEED = 11


@functools.lru_cache(maxsize=1)
def _statement() -> Any:
    from helpers.cases.financial_docs import statement

    return statement(seed=CASE_SEED, lang="en")


def _pages() -> dict[str, Any]:
    from helpers.cases.financial_docs import extraction_fields

    st = _statement()
    return {"pages": st.pages, "fields": extraction_fields(st)[0]}


def _question(qid: str) -> float:
    from helpers.cases.financial_docs import answer_from

    st = _statement()
    q = next(q for q in st.questions if q.id == qid)
    return float(answer_from(q, st.truth))


@exercise(
    "09.1",
    "`case('09.1')['pages']` are the five pages of a new statement (English). What is its 2025 debt ratio, "
    "total liabilities / total assets (within 0.001)? The two figures sit on different pages.",
    f"{NB}, section 2 'The ground truth reconciles' and section 5 (questions on their pages)",
    number(abs_tol=0.001),
    "Total liabilities (balance sheet, page 2) / total assets (page 1) for 2025 = {reference}; "
    "`answer_from(question, figures)` computes it from any extraction.",
    case=_pages,
)
def _debt_ratio() -> float:
    return _question("debt_ratio_2025")


@exercise(
    "09.2",
    "Extract the statement's figures as a JSON object with the keys of `case('09.1')['fields']` (thousands, "
    "as "
    "printed; negatives in parentheses are negative numbers). The chapter's evaluator scores it; 0.95 "
    "passes.",
    f"{NB}, section 6 'Scores and checks'",
    fields(min_score=0.95),
    "The ground truth is {reference}; `score_fields` matches numbers within 1%, so a thousands separator or "
    "parentheses parse, but a figure from the wrong year or page does not.",
    case=_pages,
    answer_form="a JSON object",
)
def _statement_truth() -> dict[str, Any]:
    return dict(_statement().truth)


@exercise(
    "09.3",
    "By what fraction did revenue grow from 2024 to 2025 in that statement (e.g. 0.12 for 12%, within "
    "0.001)?",
    f"{NB}, section 5 'The run: page by page, then combine; and the questions on their pages'",
    number(abs_tol=0.001),
    "revenue 2025 / revenue 2024 − 1 = {reference} (income statement, page 3, both columns).",
    case=_pages,
)
def _revenue_growth() -> float:
    return _question("revenue_growth")
