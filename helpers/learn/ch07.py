"""Exercises of chapter 07 (visual QA): a new receipt to read, price and score with the chapter's evaluator.

The receipt comes from the chapter's own generator with another seed (`CASE_SEED`), so its figures are new.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("07")]
    ['07.1', '07.2', '07.3']
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from .judges import fields, number
from .registry import exercise

NB = "07 · Visual question answering"
CASE_SEED = 7  # the chapter's set uses helpers.cases.documents.SEED; this receipt is a new one
MAX_PIXELS = 200_704


@dataclass(frozen=True)
class Receipt:
    """A receipt for the exercises: its image, the questions per field, and (for the evaluator) its truth."""

    image: Any
    questions: dict[str, str]
    truth: dict[str, Any]


@functools.lru_cache(maxsize=1)
def receipt() -> Receipt:
    """The first receipt of the synthetic VQA set drawn with `CASE_SEED`.

    Example:
        >>> sorted(receipt().questions)[:2]
        ['date', 'invoice_code']
    """
    from helpers.cases.documents import generate_vqa

    doc, images = next((d, im) for d, im in generate_vqa(seed=CASE_SEED) if d.kind == "receipt")
    return Receipt(images[0], dict(doc.questions), dict(doc.truth))


@exercise(
    "07.1",
    "Look at `case('07.1').image` (a new receipt) and answer its questions (`case('07.1').questions`) as a "
    "JSON object, one key per field. The chapter's evaluator scores it; 0.95 is a pass.",
    f"{NB}, section 4 'Scores against ground truth'",
    fields(min_score=0.95),
    "The receipt's ground truth is {reference}; `score_fields(answer, truth)` gives each field its numeric "
    "match or ANLS and the mean is the document's score.",
    case=lambda: Receipt(receipt().image, receipt().questions, {}),
    answer_form="a JSON object",
)
def _receipt_truth() -> dict[str, Any]:
    return receipt().truth


@exercise(
    "07.2",
    f"How many visual tokens does that receipt image cost when the request sets `max_pixels = "
    f"{MAX_PIXELS:,}`?",
    f"{NB}, section 2 'The budget, before any inference'",
    number(),
    f"`visual_tokens(*case('07.1').image.size, max_pixels={MAX_PIXELS})` = {{reference}}: the budget is "
    f"known "
    "before any inference.",
)
def _receipt_tokens() -> int:
    from helpers.estimate.vision_tokens import visual_tokens

    width, height = receipt().image.size
    return visual_tokens(width, height, max_pixels=MAX_PIXELS)


def _typo_case() -> dict[str, Any]:
    from helpers.cases.evaluation import damage

    truth = receipt().truth
    return {"truth": truth, "prediction": damage(truth, "one typo per text")}


@exercise(
    "07.3",
    "`case('07.3')` holds the receipt's truth and a prediction with one typo in every text field. What mean "
    "score does the chapter's evaluator give that prediction (within 0.001)?",
    f"{NB}, section 5 'What goes wrong, and how to spot it'",
    number(abs_tol=0.001),
    "`score_fields(prediction, truth).mean` = {reference}: numbers still match, and ANLS gives each text "
    "with "
    "one typo partial credit (1 − edit distance / length), so a typo costs less than a wrong number.",
    case=_typo_case,
)
def _typo_score() -> float:
    from helpers.cases.evaluation import score_fields

    c = _typo_case()
    return score_fields(c["prediction"], c["truth"]).mean
