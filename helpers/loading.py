"""Load a Qwen3-VL checkpoint through the real Transformers path, and refuse silent random weights.

Transformers 5 does not fail on missing, unexpected or mismatched weights: it logs a report and keeps
random values. `load_model` asks for that report (`output_loading_info=True`) and raises a readable
`LoadingReportError` when it is not empty.

Example:
    >>> from helpers.settings import select_model
    >>> model, processor, report = load_model(select_model("tiny"))
    >>> report.is_clean
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.errors import LoadingReportError
from helpers.settings import ModelChoice


@dataclass
class LoadingReport:
    """The loading report of one `from_pretrained` call, as sets of parameter names."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> LoadingReport:
        mismatched = [k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", [])]
        return cls(
            missing=sorted(info.get("missing_keys", [])),
            unexpected=sorted(info.get("unexpected_keys", [])),
            mismatched=sorted(mismatched),
            errors=list(info.get("error_msgs", [])),
        )

    @property
    def is_clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.errors)

    def table(self, limit: int = 5) -> str:
        """A small text table: kind, count, first names."""
        rows = [("missing", self.missing), ("unexpected", self.unexpected), ("mismatched", self.mismatched)]
        lines = [f"{'kind':<11} {'count':>6}  examples"]
        for kind, names in rows:
            shown = ", ".join(names[:limit]) + (" …" if len(names) > limit else "")
            lines.append(f"{kind:<11} {len(names):>6}  {shown}")
        return "\n".join(lines)

    def raise_if_unclean(self, source: str) -> None:
        if not self.is_clean:
            raise LoadingReportError(
                f"{source} loaded with weights that would be RANDOM "
                f"({len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                f"{len(self.mismatched)} mismatched); diagnose it with "
                f"`python -m helpers.checkpoints diagnose {source}`\n{self.table()}"
            )


def load_strict(source: str, **from_pretrained_kwargs: Any):
    """`AutoModelForImageTextToText.from_pretrained(source, …)` that raises on a non-empty loading report.

    Returns (model, LoadingReport). Every keyword goes to `from_pretrained` unchanged
    (dtype, device_map, max_memory, offload_folder, key_mapping …).

    Example:
        >>> model, report = load_strict(select_model("tiny").source)
        >>> type(model).__name__
        'Qwen3VLMoeForConditionalGeneration'
    """
    from transformers import AutoModelForImageTextToText

    from_pretrained_kwargs.setdefault("dtype", "auto")
    model, info = AutoModelForImageTextToText.from_pretrained(
        source, output_loading_info=True, **from_pretrained_kwargs
    )
    report = LoadingReport.from_info(info)
    report.raise_if_unclean(source)
    return model.eval(), report


def load_model(choice: ModelChoice, **from_pretrained_kwargs: Any):
    """Load model and processor of a `ModelChoice`; returns (model, processor, LoadingReport)."""
    from transformers import AutoProcessor

    model, report = load_strict(choice.source, **from_pretrained_kwargs)
    processor = AutoProcessor.from_pretrained(choice.source)
    return model, processor, report
