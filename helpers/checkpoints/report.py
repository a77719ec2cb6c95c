"""The doctor's findings: what is wrong (code), how bad (severity), the evidence, and the fix.

Example:
    >>> f = Finding("prefix-orig-mod", "error", "70/70 keys start with _orig_mod.",
    ...             "strip it: key_mapping={r'^_orig_mod\\.': ''}", repairable=True)
    >>> r = Report(path="ckpt", findings=[f])
    >>> r.healthy, r.codes
    (False, ['prefix-orig-mod'])
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pandas as pd

from helpers.core.tables import frame, to_text
from helpers.core.units import fmt_mib

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One problem. severity: "error" (will not load, or loads with RANDOM weights), "warning"
    (loads, but something is wrong or other tools refuse it), "info" (worth knowing, harmless).
    `repairable` says whether `repair` can fix it from the data in the folder (plus --base)."""

    code: str
    severity: str
    evidence: str
    fix: str
    repairable: bool = False

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")


@dataclass
class Report:
    """Everything `diagnose` found in one folder. `kind` is what the folder looks like
    ("safetensors", "pickle", "adapter", "deepspeed", "dcp", "megatron", "empty")."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    kind: str = "safetensors"
    tensors: int = 0
    weight_bytes: int = 0

    def add(self, code: str, severity: str, evidence: str, fix: str, repairable: bool = False) -> None:
        self.findings.append(Finding(code, severity, evidence, fix, repairable))

    @property
    def healthy(self) -> bool:
        """True when nothing of severity error or warning was found."""
        return not any(f.severity in ("error", "warning") for f in self.findings)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    @property
    def repairable(self) -> bool:
        """True when every error and warning can be repaired."""
        return all(f.repairable for f in self.findings if f.severity in ("error", "warning"))

    def has(self, code: str) -> bool:
        return code in self.codes

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "kind": self.kind,
            "healthy": self.healthy,
            "repairable": self.repairable,
            "tensors": self.tensors,
            "weight_bytes": self.weight_bytes,
            "findings": [asdict(f) for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def headline(self) -> str:
        """One line: path, healthy or PROBLEMS, kind (and size when healthy)."""
        if not self.findings:
            return f"{self.path}: healthy ({self.tensors} tensors, {fmt_mib(self.weight_bytes)})"
        return f"{self.path}: {'healthy' if self.healthy else 'PROBLEMS'} ({self.kind})"

    def table(self) -> pd.DataFrame:
        """The findings as a DataFrame, errors first: severity, code, evidence, fix, repairable.

        Example:
            >>> diagnose(folder).table()[["severity", "code"]]   # doctest: +SKIP
        """
        order = {s: i for i, s in enumerate(SEVERITIES)}
        rows = [
            {
                "severity": f.severity,
                "code": f.code,
                "evidence": f.evidence,
                "fix": f.fix,
                "repairable": f.repairable,
            }
            for f in sorted(self.findings, key=lambda f: order[f.severity])
        ]
        return frame(rows, ["severity", "code", "evidence", "fix", "repairable"])

    def __str__(self) -> str:
        if not self.findings:
            return self.headline()
        return f"{self.headline()}\n{to_text(self.table(), max_colwidth=90)}"
