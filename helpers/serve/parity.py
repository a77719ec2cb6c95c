"""Do a served endpoint and the local Transformers backend give the same greedy answers?

`parity_report` sends the same requests (temperature 0) through both, tokenizes both answers with the
model's own tokenizer and reports, per request, whether they are token-identical and where they first
differ; on a case-study set it also scores both with the case-study evaluation and gives the difference.
Run it against your own vLLM or SGLang server with the checkpoint you serve (`local` = that folder):
engines batch, fuse kernels and may pick other attention backends, so near-ties in the logits can flip.

Example:
    >>> first_difference([1, 2, 3], [1, 2, 4]), first_difference([1, 2], [1, 2])
    (2, None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.infer.backends import Backend


def first_difference(a: list[int], b: list[int]) -> int | None:
    """Index of the first differing token (the shorter length if one is a prefix), or None if identical."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


@dataclass
class ParityReport:
    """Per-request rows and the summary figures."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    score_local: float | None = None
    score_served: float | None = None

    @property
    def exact_match_rate(self) -> float:
        return sum(r["identical"] for r in self.rows) / len(self.rows) if self.rows else 0.0

    @property
    def score_difference(self) -> float | None:
        if self.score_local is None or self.score_served is None:
            return None
        return self.score_served - self.score_local

    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def parity_report(
    local: Backend,
    served: Backend,
    requests: list[tuple[list[Any], str]],
    max_new_tokens: int = 16,
    documents: list[Any] | None = None,
) -> ParityReport:
    """Greedy answers of both backends to the same `requests`, compared token by token.

    `documents` (case-study documents, same order as `requests`) adds the evaluation scores of both.
    """
    tokenizer = local.model_and_processor[1].tokenizer
    mine = local.generate_batch(requests, max_new_tokens=max_new_tokens)
    theirs = served.generate_batch(requests, max_new_tokens=max_new_tokens)
    report = ParityReport()
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        ta = tokenizer(a.text, add_special_tokens=False)["input_ids"]
        tb = tokenizer(b.text, add_special_tokens=False)["input_ids"]
        diff = first_difference(ta, tb)
        report.rows.append(
            {
                "request": i,
                "identical": diff is None,
                "first_diff_token": diff,
                "local_tokens": a.new_tokens,
                "served_tokens": b.new_tokens,
                "local_prompt_tokens": a.prompt_tokens,
                "served_prompt_tokens": b.prompt_tokens,
                "local_text": a.text[:60],
                "served_text": b.text[:60],
            }
        )
    if documents is not None:
        from helpers.cases.pipeline import score_answers

        report.score_local = score_answers(documents, [r.text for r in mine]).aggregate.mean
        report.score_served = score_answers(documents, [r.text for r in theirs]).aggregate.mean
    return report
