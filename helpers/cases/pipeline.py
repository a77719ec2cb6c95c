"""Run a document set through a backend: prompt, generate (batched), parse JSON, score — with a progress bar.

Any document set in the helpers.cases.docset format works (the visual-QA set is one): each document
becomes one request that asks for all its fields as one JSON object (helpers.infer.structured), the answer
is parsed and scored field by field (helpers.cases.evaluation). The OCR baseline goes through the same
scoring with `run_ocr_baseline`; helpers.cases.harness compares the runs with the ground truth.

Example:
    >>> from helpers.infer.backends import make_backend
    >>> from helpers.cases.documents import vqa_documents
    >>> run = run_documents(vqa_documents()[:2], make_backend("tiny"), max_new_tokens=8)
    >>> len(run.rows), 0.0 <= run.aggregate.mean <= 1.0
    (2, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from helpers.cases.evaluation import Aggregate, FieldScores, aggregate, score_fields
from helpers.core.tables import frame
from helpers.infer.structured import ParseResult, json_prompt, parse_json_answer


@dataclass
class DocumentResult:
    """One document's answer, its parse and its scores."""

    id: str
    kind: str
    prompt: str
    answer: str
    parsed: ParseResult
    scores: FieldScores
    prompt_tokens: int = 0
    visual_tokens: list[int] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class PipelineRun:
    """All documents of one run; `aggregate` is derived from the rows."""

    backend: str
    rows: list[DocumentResult]

    @property
    def aggregate(self) -> Aggregate:
        """Field-weighted means over every row, and per document kind."""
        return aggregate([r.scores for r in self.rows], [r.kind for r in self.rows])

    def field_mean(self, name: str) -> float:
        """Mean score of one field over the documents that ask for it (0.0 when none does).

        Example:
            >>> from helpers.cases.documents import vqa_documents
            >>> docs = vqa_documents()
            >>> score_answers(docs, [d.truth for d in docs]).field_mean("total")
            1.0
        """
        got = [r.scores.by_field[name].score for r in self.rows if name in r.scores.by_field]
        return sum(got) / len(got) if got else 0.0

    @property
    def parse_failures(self) -> list[tuple[str, str]]:
        """(document id, what failed) for every answer that was not valid JSON."""
        return [(r.id, r.parsed.error) for r in self.rows if not r.parsed.ok]

    def table(self) -> pd.DataFrame:
        """One row per document: id, kind, JSON ok, score, tokens, seconds."""
        return frame(
            {
                "id": r.id,
                "kind": r.kind,
                "json_ok": r.parsed.ok,
                "score": round(r.scores.mean, 3),
                "prompt_tokens": r.prompt_tokens,
                "visual_tokens": r.visual_tokens,
                "seconds": round(r.seconds, 2),
            }
            for r in self.rows
        )


def document_prompt(document: Any) -> str:
    """The JSON-schema prompt for one document (one key per question)."""
    return json_prompt(document.questions, document.types)


def _progress(total: int, desc: str, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not show, unit="doc")


def _score(doc: Any, text: str, numeric_tol: float, prompt: str = "", result: Any = None) -> DocumentResult:
    """Parse one answer against the document's fields and score it; `result` (GenerationResult) adds costs."""
    parsed = parse_json_answer(text, required=list(doc.truth), types=doc.types)
    scores = score_fields(parsed.value if parsed.ok else None, doc.truth, numeric_tol)
    costs = (result.prompt_tokens, result.visual_tokens, result.seconds) if result is not None else ()
    return DocumentResult(doc.id, doc.kind, prompt, text, parsed, scores, *costs)


def run_documents(
    documents: list[Any],
    backend: Any,
    max_new_tokens: int = 128,
    batch_size: int | None = None,
    progress: bool = True,
    numeric_tol: float = 0.01,
    **processor_kwargs: Any,
) -> PipelineRun:
    """Prompt, generate (in batches of the backend's size), parse and score every document.

    `processor_kwargs` (e.g. ``max_pixels=``) set the per-image pixel budget.
    """
    batch = batch_size or getattr(backend, "batch_size", 1) or 1
    rows: list[DocumentResult] = []
    with _progress(len(documents), f"documents via {getattr(backend, 'name', 'backend')}", progress) as bar:
        for start in range(0, len(documents), batch):
            chunk = documents[start : start + batch]
            prompts = [document_prompt(d) for d in chunk]
            results = backend.generate_batch(
                [(list(d.images), p) for d, p in zip(chunk, prompts, strict=True)],
                max_new_tokens=max_new_tokens,
                **processor_kwargs,
            )
            rows += [
                _score(doc, res.text, numeric_tol, prompt, res)
                for doc, prompt, res in zip(chunk, prompts, results, strict=True)
            ]
            bar.update(len(chunk))
    return PipelineRun(getattr(backend, "label", "backend"), rows)


def score_answers(
    documents: list[Any],
    answers: list[dict[str, Any] | str],
    name: str = "answers",
    numeric_tol: float = 0.01,
) -> PipelineRun:
    """Score ready answers (dicts, or raw text to parse) — for the ground truth itself, damaged copies, OCR.

    Example:
        >>> from helpers.cases.documents import vqa_documents
        >>> docs = vqa_documents()
        >>> score_answers(docs, [d.truth for d in docs]).aggregate.mean
        1.0
    """
    import json

    texts = [ans if isinstance(ans, str) else json.dumps(ans, ensure_ascii=False) for ans in answers]
    return PipelineRun(
        name, [_score(doc, text, numeric_tol) for doc, text in zip(documents, texts, strict=True)]
    )


def run_ocr_baseline(
    documents: list[Any], progress: bool = True, images: list[list[Any]] | None = None
) -> PipelineRun:
    """The OCR + rules baseline (helpers.cases.ocr) on the same documents, scored the same way.

    `images` (one list per document) replaces the documents' own images, e.g. to OCR what a small
    pixel budget leaves of them.
    """
    from helpers.cases.ocr import answer_with_rules

    answers = []
    with _progress(len(documents), "documents via OCR (rapidocr)", progress) as bar:
        for n, doc in enumerate(documents):
            answers.append(answer_with_rules(doc, images[n] if images else None))
            bar.update(1)
    return score_answers(documents, answers, name="OCR + rules (rapidocr-onnxruntime)")
