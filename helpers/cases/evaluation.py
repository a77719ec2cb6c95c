"""Score answers against ground truth, field by field: exact match, numeric tolerance, ANLS.

A document's ground truth is a flat dict ``field -> value`` (str, int or float). A prediction is the
dict parsed from the model's JSON answer (see `helpers.infer.structured`). Each field gets three scores:

* ``exact``  – 1.0 when the normalised strings are equal (NFKC, case-folded, spaces collapsed,
  trailing punctuation dropped; so full-width ``１２３`` equals ``123``);
* ``numeric`` – for numeric truths: 1.0 when the number found in the answer is within
  ``numeric_tol`` (relative, floor 1.0) of the truth, else 0.0; ``None`` for text truths;
* ``anls``   – Average Normalised Levenshtein Similarity (DocVQA's metric, threshold 0.5).

The field's ``score`` is ``numeric`` for numbers and ``anls`` for text; ``FieldScores.mean`` averages it.

Example:
    >>> s = score_fields({"total": "¥1,234.50", "shop": "Green Market"},
    ...                  {"total": 1234.5, "shop": "Green Market"})
    >>> s.mean, s.by_field["total"].numeric
    (1.0, 1.0)
    >>> round(anls("Grene Market", "Green Market"), 3)
    0.833
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

ANLS_THRESHOLD = 0.5
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def normalize_text(value: Any) -> str:
    """Normalised text for comparison: NFKC (full- to half-width), case-folded, spaces collapsed.

    Example:
        >>> normalize_text("  ＡＢＣ　１２３。 ")
        'abc 123'
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(".。,，;；:：!！ ").strip()


def parse_number(value: Any) -> float | None:
    """The first number in `value` (ignores currency signs, thousands separators, units, %).

    Example:
        >>> parse_number("合计：¥１,２３４.５０元")
        1234.5
        >>> parse_number("n/a") is None
        True
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = unicodedata.normalize("NFKC", str(value))
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    match = _NUMBER.search(text)
    return float(match.group()) if match else None


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), by the usual two-row dynamic program."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def anls(pred: Any, truth: Any, threshold: float = ANLS_THRESHOLD) -> float:
    """ANLS of one answer: 1 - normalised edit distance, or 0 when that distance is >= threshold.

    Example:
        >>> anls("合计", "合计"), anls("abc", "xyz")
        (1.0, 0.0)
    """
    p, t = normalize_text(pred), normalize_text(truth)
    if not p and not t:
        return 1.0
    distance = levenshtein(p, t) / max(len(p), len(t))
    return 0.0 if distance >= threshold else 1.0 - distance


def numbers_match(pred: Any, truth: Any, numeric_tol: float = 0.01) -> bool:
    """True when both hold numbers and |pred - truth| <= numeric_tol * max(|truth|, 1)."""
    p, t = parse_number(pred), parse_number(truth)
    if p is None or t is None:
        return False
    return abs(p - t) <= numeric_tol * max(abs(t), 1.0)


def is_numeric_truth(truth: Any) -> bool:
    """Numeric ground truth: an int/float (bools excluded)."""
    return isinstance(truth, int | float) and not isinstance(truth, bool)


@dataclass
class FieldScore:
    """One field: the truth, the prediction (None when absent) and its three scores."""

    name: str
    truth: Any
    pred: Any
    exact: float
    numeric: float | None
    anls: float

    @property
    def score(self) -> float:
        """The field's headline score: `numeric` for numeric truths, `anls` for text."""
        return self.numeric if self.numeric is not None else self.anls


@dataclass
class FieldScores:
    """Scores of one document (or one prediction dict): per field and their means."""

    fields: list[FieldScore] = field(default_factory=list)

    @property
    def by_field(self) -> dict[str, FieldScore]:
        return {f.name: f for f in self.fields}

    @property
    def mean(self) -> float:
        """Mean headline score over the fields (0.0 when there are none)."""
        return sum(f.score for f in self.fields) / len(self.fields) if self.fields else 0.0

    @property
    def exact(self) -> float:
        return sum(f.exact for f in self.fields) / len(self.fields) if self.fields else 0.0

    @property
    def anls(self) -> float:
        return sum(f.anls for f in self.fields) / len(self.fields) if self.fields else 0.0

    @property
    def missing(self) -> list[str]:
        """Fields the prediction did not contain."""
        return [f.name for f in self.fields if f.pred is None]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per field, for a table."""
        return [
            {
                "field": f.name,
                "truth": f.truth,
                "pred": f.pred,
                "exact": f.exact,
                "numeric": f.numeric,
                "anls": round(f.anls, 3),
                "score": round(f.score, 3),
            }
            for f in self.fields
        ]


def score_field(name: str, pred: Any, truth: Any, numeric_tol: float = 0.01) -> FieldScore:
    """Score one value against its truth (see the module docstring for the three scores)."""
    exact = float(pred is not None and normalize_text(pred) == normalize_text(truth))
    numeric = float(numbers_match(pred, truth, numeric_tol)) if is_numeric_truth(truth) else None
    return FieldScore(name, truth, pred, exact, numeric, anls(pred, truth) if pred is not None else 0.0)


def score_fields(
    pred: dict[str, Any] | None, truth: dict[str, Any], numeric_tol: float = 0.01
) -> FieldScores:
    """Score every ground-truth field; a field absent from `pred` (or `pred` None) scores 0.

    Keys are matched after `normalize_text`, so ``"Total"`` in the answer finds ``"total"``.

    Example:
        >>> score_fields({"a": "x"}, {"a": "x", "b": 2}).mean
        0.5
    """
    pred = pred if isinstance(pred, dict) else {}
    lookup = {normalize_text(k): v for k, v in pred.items()}
    scores = []
    for name, value in truth.items():
        got = pred.get(name, lookup.get(normalize_text(name)))
        scores.append(score_field(name, got, value, numeric_tol))
    return FieldScores(scores)


@dataclass
class Aggregate:
    """Scores over many documents: field-weighted means and per-group means."""

    documents: int
    fields: int
    mean: float
    exact: float
    anls: float
    by_group: dict[str, float]


def aggregate(scores: list[FieldScores], groups: list[str] | None = None) -> Aggregate:
    """Field-weighted means over documents; `groups` (one label per document) adds per-group means.

    Example:
        >>> a = aggregate([score_fields({"a": 1}, {"a": 1}), score_fields({}, {"a": 1})], ["x", "y"])
        >>> a.mean, a.by_group
        (0.5, {'x': 1.0, 'y': 0.0})
    """
    every = FieldScores([f for s in scores for f in s.fields])
    by_group: dict[str, FieldScores] = {}
    for label, s in zip(groups or [], scores, strict=False):
        by_group.setdefault(label, FieldScores()).fields.extend(s.fields)
    return Aggregate(
        documents=len(scores),
        fields=len(every.fields),
        mean=every.mean,
        exact=every.exact,
        anls=every.anls,
        by_group={k: g.mean for k, g in by_group.items() if g.fields},
    )


DAMAGES = ("numbers +10%", "one typo per text", "first field dropped", "first/second swapped")


def damage(truth: dict[str, Any], how: str) -> dict[str, Any]:
    """A deliberately damaged copy of a ground-truth dict, to see the evaluator punish each fault.

    Example:
        >>> damage({"total": 10.0, "shop": "绿叶超市"}, "numbers +10%")
        {'total': 11.0, 'shop': '绿叶超市'}
        >>> damage({"shop": "Green"}, "one typo per text")
        {'shop': 'Gxeen'}
    """
    out = dict(truth)
    if how == "numbers +10%":
        return {k: round(v * 1.1, 2) if is_numeric_truth(v) else v for k, v in out.items()}
    if how == "one typo per text":
        return {
            k: (v[:1] + ("x" if v[1:2] != "x" else "y") + v[2:]) if isinstance(v, str) and len(v) > 1 else v
            for k, v in out.items()
        }
    if how == "first field dropped":
        out.pop(next(iter(out)), None)
        return out
    if how == "first/second swapped":
        swap = {"first": "second", "second": "first"}
        return {k: swap.get(v, v) if isinstance(v, str) else v for k, v in out.items()}
    raise ValueError(f"unknown damage {how!r}; choose one of {DAMAGES}")
