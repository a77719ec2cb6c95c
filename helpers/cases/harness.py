"""One comparison for the three case studies: model answers, ground truth, OCR baseline and damaged answers.

Every case-study chapter asks the same question — how do the model's answers compare with the ground truth,
with a classic OCR pipeline, and with answers we damaged on purpose? — so one function scores them all the
same way (`compare_answers`, field by field with helpers.cases.evaluation), one DataFrame shows them
(`Comparison.table`) and one plot draws them (`Comparison.plot`). The ground truth must score 1.0 and every
damaged copy less: that is the proof the evaluator works. A chapter's own domain checks (reconciliation,
lab flags) plug in as `checks` and are counted per source without needing the ground truth.

Answers are given per document id: a dict (already parsed), a str (raw model text, parsed here as JSON
against the document's fields) or None (no answer: every field scores 0). A source that has no entry for a
document was not run on it (e.g. the OCR baseline on one statement only) and is left out of that mean.

Example:
    >>> truths = {"r1": {"total": 10.0, "shop": "绿叶超市"}}
    >>> cmp = compare_answers(
    ...     truths,
    ...     model={"r1": '{"total": 10}'},
    ...     ocr={"r1": {"total": 10.0, "shop": "绿叶超市"}},
    ...     damaged={"numbers +10%": {"r1": {"total": 11.0, "shop": "绿叶超市"}}},
    ... )
    >>> cmp.table()[["kind", "mean"]].values.tolist()
    [['model', 0.5], ['ground truth', 1.0], ['OCR baseline', 1.0], ['damaged', 0.5]]
    >>> cmp.score("OCR baseline (rapidocr + rules)", group="r1")
    1.0
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helpers.cases.domain_checks import Check, summary
from helpers.cases.evaluation import DAMAGES, FieldScores, damage, score_fields
from helpers.infer.structured import parse_json_answer

OCR_LABEL = "OCR baseline (rapidocr + rules)"
# One colour per kind of answer source, the same in every chapter's plot.
COLORS = {
    "model": "#c44e52",
    "ground truth": "#4c72b0",
    "evaluator check": "#8172b3",
    "OCR baseline": "#55a868",
    "damaged": "#dd8452",
}


@dataclass
class SourceScores:
    """One answer source: its kind, the field scores per document it answered, and its domain-check counts."""

    name: str
    kind: str
    scores: dict[str, FieldScores]
    checks: dict[str, int] | None = None

    def mean(self, documents: list[str] | None = None) -> float:
        """Field-weighted mean score over `documents` (default: all it answered); NaN when none."""
        fields = [f for d, s in self.scores.items() if documents is None or d in documents for f in s.fields]
        return FieldScores(fields).mean if fields else float("nan")


@dataclass
class Comparison:
    """The scored sources of one case study, in display order, and the group of each document."""

    sources: list[SourceScores]
    groups: dict[str, str] = field(default_factory=dict)

    def source(self, name: str) -> SourceScores:
        """The source called `name` (KeyError naming the known ones otherwise)."""
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"no source {name!r}; known: {[s.name for s in self.sources]}")

    def score(self, name: str, group: str | None = None) -> float:
        """Mean field score of one source, over every document or over one group's documents."""
        docs = None if group is None else [d for d, g in self.groups.items() if g == group]
        return self.source(name).mean(docs)

    def table(self, digits: int = 3) -> Any:
        """One row per source: kind, documents, fields, mean/exact/ANLS, per-group means, domain checks."""
        import pandas as pd

        group_names = list(dict.fromkeys(self.groups.values()))
        rows = []
        for s in self.sources:
            every = FieldScores([f for sc in s.scores.values() for f in sc.fields])
            row = {
                "answers": s.name,
                "kind": s.kind,
                "documents": len(s.scores),
                "fields": len(every.fields),
                "mean": every.mean,
                "exact": every.exact,
                "ANLS": every.anls,
            }
            if len(group_names) > 1:
                row |= {f"mean · {g}": self.score(s.name, g) for g in group_names}
            if s.checks is not None:
                row["checks pass/fail/skip"] = f"{s.checks['pass']}/{s.checks['fail']}/{s.checks['skip']}"
            rows.append(row)
        return pd.DataFrame(rows).round(digits)

    def plot(self, title: str = "", random_weights: bool = False, ax: Any = None) -> Any:
        """Horizontal bars of each source's mean score, coloured by kind; returns the matplotlib Figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(9, 0.45 * len(self.sources) + 1.4))
        names = [s.name for s in self.sources]
        means = [s.mean() for s in self.sources]
        ax.barh(names, means, color=[COLORS.get(s.kind, "gray") for s in self.sources])
        for y, v in enumerate(means):
            ax.text(v + 0.01, y, f"{v:.2f}", va="center", fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.12)
        ax.set_xlabel("mean field score (numbers within the tolerance, text by ANLS)")
        ax.set_title(title + (" — model has RANDOM weights: its bar is noise" if random_weights else ""))
        ax.figure.tight_layout()
        return ax.figure


def _as_dict(answer: Any, truth: dict[str, Any], types: dict[str, str] | None) -> dict[str, Any] | None:
    if isinstance(answer, str):
        parsed = parse_json_answer(answer, required=list(truth), types=types)
        return parsed.value if parsed.ok else None
    return answer


def compare_answers(
    truths: dict[str, dict[str, Any]],
    model: dict[str, Any] | None = None,
    ocr: dict[str, Any] | None = None,
    damaged: dict[str, dict[str, Any]] | None = None,
    *,
    model_label: str = "model",
    ocr_label: str = OCR_LABEL,
    evaluator: dict[str, dict[str, Any]] | None = None,
    checks: Callable[[str, dict[str, Any]], list[Check]] | None = None,
    groups: dict[str, str] | None = None,
    types: dict[str, dict[str, str]] | None = None,
    numeric_tol: float = 0.01,
) -> Comparison:
    """Score every source against `truths` (document id -> ground-truth fields) the same way.

    `model` and `ocr` map document id -> answer; `damaged` and `evaluator` (extra known answers such as the
    truth wrapped in chatter) map a name -> (document id -> answer). `checks(doc_id, answer)` runs a
    chapter's domain checks on each answer; `groups` (document id -> label, default the id) adds per-group
    columns; `types` (document id -> field types) guides parsing of raw text answers.
    """
    named: list[tuple[str, str, dict[str, Any]]] = []
    if model is not None:
        named.append((model_label, "model", model))
    named.append(("ground truth", "ground truth", truths))
    named += [(name, "evaluator check", given) for name, given in (evaluator or {}).items()]
    if ocr is not None:
        named.append((ocr_label, "OCR baseline", ocr))
    named += [(f"damaged: {name}", "damaged", given) for name, given in (damaged or {}).items()]
    unknown = {d for _, _, given in named for d in given} - set(truths)
    if unknown:
        raise KeyError(f"answers for unknown documents {sorted(unknown)}; known: {sorted(truths)}")
    sources = []
    for name, kind, given in named:
        answers = {d: _as_dict(a, truths[d], (types or {}).get(d)) for d, a in given.items()}
        scores = {d: score_fields(a, truths[d], numeric_tol) for d, a in answers.items()}
        counts = None
        if checks is not None:
            found = [c for d, a in answers.items() for c in checks(d, a or {})]
            counts = summary(found)
        sources.append(SourceScores(name, kind, scores, counts))
    return Comparison(sources, groups or {d: d for d in truths})


def by_source(per_document: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Turn document id -> (name -> answer) into name -> (document id -> answer), e.g. damaged answers.

    Example:
        >>> by_source({"zh": {"units": 1, "digit": 2}, "en": {"units": 3}})
        {'units': {'zh': 1, 'en': 3}, 'digit': {'zh': 2}}
    """
    out: dict[str, dict[str, Any]] = {}
    for doc, answers in per_document.items():
        for name, answer in answers.items():
            out.setdefault(name, {})[doc] = answer
    return out


def evaluator_answers(truths: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The generic damages of helpers.cases.evaluation.DAMAGES applied to every document's truth.

    Example:
        >>> evaluator_answers({"d": {"total": 10.0}})["numbers +10%"]
        {'d': {'total': 11.0}}
    """
    return {how: {d: damage(t, how) for d, t in truths.items()} for how in DAMAGES}


def fenced_truth(truths: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each truth as a model might wrap it: a code fence with chatter around it (must still score 1.0)."""
    return {
        d: "Here is the JSON:\n```json\n" + json.dumps(t, ensure_ascii=False) + "\n```\nAnything else?"
        for d, t in truths.items()
    }
