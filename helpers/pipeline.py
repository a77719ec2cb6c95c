"""Run a document set through a backend: prompt, generate (batched), parse JSON, score — with a progress bar.

Any document set in the helpers.documents format works (visual QA, medical, financial): each document
becomes one request that asks for all its fields as one JSON object (helpers.structured), the answer
is parsed and scored field by field (helpers.evaluation). The OCR baseline goes through the same
scoring with `run_ocr_baseline`.

Example:
    >>> from helpers.backends import make_backend
    >>> from helpers.documents import vqa_documents
    >>> run = run_documents(vqa_documents()[:2], make_backend("tiny"), max_new_tokens=8)
    >>> len(run.rows), 0.0 <= run.aggregate.mean <= 1.0
    (2, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.evaluation import Aggregate, FieldScores, aggregate, score_fields
from helpers.structured import ParseResult, json_prompt, parse_json_answer


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
    """All documents of one run, and the aggregate."""

    backend: str
    rows: list[DocumentResult]
    aggregate: Aggregate

    @property
    def parse_failures(self) -> list[tuple[str, str]]:
        """(document id, what failed) for every answer that was not valid JSON."""
        return [(r.id, r.parsed.error) for r in self.rows if not r.parsed.ok]

    def table(self) -> list[dict[str, Any]]:
        """One row per document: id, kind, JSON ok, score, tokens, seconds."""
        return [{"id": r.id, "kind": r.kind, "json_ok": r.parsed.ok, "score": round(r.scores.mean, 3),
                 "prompt_tokens": r.prompt_tokens, "visual_tokens": r.visual_tokens, "seconds": round(r.seconds, 2)}
                for r in self.rows]


def document_prompt(document: Any) -> str:
    """The JSON-schema prompt for one document (one key per question)."""
    return json_prompt(document.questions, document.types)


def _progress(total: int, desc: str, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not show, unit="doc")


def run_documents(documents: list[Any], backend: Any, max_new_tokens: int = 128, batch_size: int | None = None,
                  progress: bool = True, numeric_tol: float = 0.01, **processor_kwargs: Any) -> PipelineRun:
    """Prompt, generate (in batches of the backend's size), parse and score every document.

    `processor_kwargs` (e.g. ``max_pixels=``) set the per-image pixel budget.
    """
    batch = batch_size or getattr(backend, "batch_size", 1) or 1
    rows: list[DocumentResult] = []
    with _progress(len(documents), f"documents via {getattr(backend, 'name', 'backend')}", progress) as bar:
        for start in range(0, len(documents), batch):
            chunk = documents[start : start + batch]
            prompts = [document_prompt(d) for d in chunk]
            results = backend.generate_batch([(list(d.images), p) for d, p in zip(chunk, prompts, strict=True)],
                                             max_new_tokens=max_new_tokens, **processor_kwargs)
            for doc, prompt, res in zip(chunk, prompts, results, strict=True):
                parsed = parse_json_answer(res.text, required=list(doc.truth), types=doc.types)
                scores = score_fields(parsed.value if parsed.ok else None, doc.truth, numeric_tol)
                rows.append(DocumentResult(doc.id, doc.kind, prompt, res.text, parsed, scores, res.prompt_tokens,
                                           res.visual_tokens, res.seconds))
            bar.update(len(chunk))
    return PipelineRun(getattr(backend, "label", "backend"), rows,
                       aggregate([r.scores for r in rows], [r.kind for r in rows]))


def score_answers(documents: list[Any], answers: list[dict[str, Any] | str], name: str = "answers",
                  numeric_tol: float = 0.01) -> PipelineRun:
    """Score ready answers (dicts, or raw text to parse) — for the ground truth itself, damaged copies, OCR.

    Example:
        >>> from helpers.documents import vqa_documents
        >>> docs = vqa_documents()
        >>> score_answers(docs, [d.truth for d in docs]).aggregate.mean
        1.0
    """
    import json

    rows = []
    for doc, ans in zip(documents, answers, strict=True):
        text = ans if isinstance(ans, str) else json.dumps(ans, ensure_ascii=False)
        parsed = parse_json_answer(text, required=list(doc.truth), types=doc.types)
        scores = score_fields(parsed.value if parsed.ok else None, doc.truth, numeric_tol)
        rows.append(DocumentResult(doc.id, doc.kind, "", text, parsed, scores))
    return PipelineRun(name, rows, aggregate([r.scores for r in rows], [r.kind for r in rows]))


def run_ocr_baseline(documents: list[Any], progress: bool = True, images: list[list[Any]] | None = None) -> PipelineRun:
    """The OCR + rules baseline (helpers.ocr) on the same documents, scored the same way.

    `images` (one list per document) replaces the documents' own images, e.g. to OCR what a small
    pixel budget leaves of them.
    """
    from helpers.ocr import answer_with_rules

    answers = []
    with _progress(len(documents), "documents via OCR (rapidocr)", progress) as bar:
        for n, doc in enumerate(documents):
            answers.append(answer_with_rules(doc, images[n] if images else None))
            bar.update(1)
    return score_answers(documents, answers, name="OCR + rules (rapidocr-onnxruntime)")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A list of dicts as a Markdown table (for `IPython.display.Markdown`).

    Example:
        >>> print(markdown_table([{"a": 1, "b": "x"}]))
        | a | b |
        |---|---|
        | 1 | x |
    """
    if not rows:
        return "_(no rows)_"
    keys = list(rows[0])

    def cell(v: Any) -> str:
        text = f"{v:.6g}" if isinstance(v, float) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)
