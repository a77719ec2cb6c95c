"""The safety middleware: every text that leaves the process goes through `redact` first.

Three exits are covered: prompts sent to a backend (remote endpoints above all), log records, and
saved outputs. `SafeBackend` wraps anything with the shared ``generate(images, prompt, ...)`` method:
it quarantines injected instructions in the prompt, redacts identifiers, calls the backend, redacts
the answer, applies the medical policy when asked, and keeps a `SafetyTrace` of every step.

Example:
    >>> class Echo:
    ...     def generate(self, images, prompt, max_new_tokens=16):
    ...         from helpers.infer.generate import GenerationResult
    ...         return GenerationResult(text=prompt, prompt_tokens=0)
    >>> safe = SafeBackend(Echo(), medical=False)
    >>> safe.generate([], "Patient: Li Lei, MRN 889123. Extract the glucose.").text
    'Patient: [NAME], MRN [RECORD_NO]. Extract the glucose.'
    >>> safe.last_trace.sent_prompt_had_identifiers
    False
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.safety.injection import InjectionFlag, find_injections, quarantine
from helpers.safety.policy import PolicyResult, apply_medical_policy
from helpers.safety.redaction import RedactionResult, contains_identifiers, redact


class SafetyError(WorkbookError, ValueError):
    """A request the middleware refuses to send as it is."""


@dataclass
class SafetyTrace:
    """What the middleware did to one request, step by step (safe to print: no identifiers in it)."""

    injections: list[InjectionFlag] = field(default_factory=list)
    prompt_redaction: RedactionResult | None = None
    sent_prompt: str = ""
    answer_redaction: RedactionResult | None = None
    policy: PolicyResult | None = None

    @property
    def sent_prompt_had_identifiers(self) -> bool:
        return contains_identifiers(self.sent_prompt)

    def steps(self) -> list[tuple[str, str]]:
        """(step, what happened) rows for a table in a notebook."""
        pr = self.prompt_redaction.counts() if self.prompt_redaction else {}
        ar = self.answer_redaction.counts() if self.answer_redaction else {}
        rows = [
            (
                "1 injection scan",
                f"{len(self.injections)} flagged: " + ", ".join(sorted({f.rule for f in self.injections})),
            ),
            ("2 prompt redaction", json.dumps(pr, ensure_ascii=False) if pr else "nothing to redact"),
            ("3 sent prompt clean", str(not self.sent_prompt_had_identifiers)),
            ("4 answer redaction", json.dumps(ar, ensure_ascii=False) if ar else "nothing to redact"),
        ]
        if self.policy is not None:
            rows.append(
                (
                    "5 medical policy",
                    f"violations={self.policy.violations or 'none'}, "
                    f"disclaimer added={self.policy.disclaimer_added}",
                )
            )
        return rows


def safe_prompt(prompt: str) -> tuple[str, SafetyTrace]:
    """The prompt as it may leave the process (injections quarantined, identifiers redacted) and its trace."""
    trace = SafetyTrace(injections=find_injections(prompt))
    cleaned = quarantine(prompt, trace.injections) if trace.injections else prompt
    trace.prompt_redaction = redact(cleaned)
    trace.sent_prompt = trace.prompt_redaction.text
    return trace.sent_prompt, trace


class SafeBackend:
    """Wrap a backend so that prompts and answers pass the safety steps; `last_trace` shows them.

    `medical=True` applies the medical-output policy to answers. The images are passed through as they
    are: mask identifier regions on the image (see `helpers.cases.medical_docs`) before sending to a
    remote endpoint.
    """

    def __init__(self, backend: Any, medical: bool = True) -> None:
        self.backend = backend
        self.medical = medical
        self.last_trace: SafetyTrace | None = None

    def generate(self, images: list[Any], prompt: str, **kwargs: Any) -> Any:
        sent, trace = safe_prompt(prompt)
        if trace.sent_prompt_had_identifiers:  # defensive: redact must be idempotent
            raise SafetyError("the prompt still holds identifiers after redaction; not sending it")
        result = self.backend.generate(images, sent, **kwargs)
        trace.answer_redaction = redact(result.text)
        text = trace.answer_redaction.text
        if self.medical:
            trace.policy = apply_medical_policy(text)
            text = trace.policy.text
        self.last_trace = trace
        return replace(result, text=text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's message before any handler writes it.

    Example:
        >>> log = logging.getLogger("demo.safety"); log.addFilter(RedactingFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage()).text
        record.args = None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add a `RedactingFilter` to `logger` (root by default) and to each of its handlers."""
    logger = logger or logging.getLogger()
    filt = RedactingFilter()
    logger.addFilter(filt)
    for handler in logger.handlers:
        handler.addFilter(filt)
    return filt


def save_redacted(path: str | Path, content: str | dict | list) -> RedactionResult:
    """Write `content` (text, or JSON-able data) to `path` redacted, atomically; returns the record.

    Example:
        >>> save_redacted("/tmp/out.json", {"answer": "call 13912345678"}).counts()
        {'PHONE': 1}
    """
    path = Path(path)
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, indent=2)
    result = redact(text)
    if not path.parent.is_dir():
        raise SafetyError(f"{path.parent} does not exist: create the folder first or choose another path")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(result.text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result
