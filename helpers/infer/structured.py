"""Structured output: ask for JSON against a schema, and parse what comes back, saying what failed.

Models wrap JSON in code fences, add a sentence after it, or stop half-way. `parse_json_answer`
tolerates the first two and reports the third in one line.

Example:
    >>> r = parse_json_answer('Sure!\\n```json\\n{"total": 12.5}\\n```\\nHope this helps.')
    >>> r.ok, r.value
    (True, {'total': 12.5})
    >>> print(parse_json_answer('{"total": 12.5').error)
    invalid JSON at line 1 column 15: Expecting ',' delimiter (the answer stops early: raise max_new_tokens?)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)

FIELD_TYPES = {"string": str, "number": (int, float), "integer": int}


@dataclass
class ParseResult:
    """`ok` with the parsed `value`, or not ok with a one-line `error`; `problems` lists schema issues."""

    ok: bool
    value: Any = None
    error: str = ""
    problems: list[str] = field(default_factory=list)


def json_schema(fields: dict[str, str], types: dict[str, str] | None = None) -> dict[str, Any]:
    """A JSON Schema for a flat object: field -> description, all required.

    Example:
        >>> json_schema({"total": "the total"}, {"total": "number"})["properties"]["total"]["type"]
        'number'
    """
    types = types or {}
    return {
        "type": "object",
        "properties": {k: {"type": types.get(k, "string"), "description": d} for k, d in fields.items()},
        "required": list(fields),
    }


def json_prompt(fields: dict[str, str], types: dict[str, str] | None = None, preamble: str = "") -> str:
    """A prompt that asks for exactly one JSON object with the given keys (questions as descriptions).

    Example:
        >>> print(json_prompt({"total": "What is the total?"}, {"total": "number"}))
        ... # doctest: +NORMALIZE_WHITESPACE
        Answer using the image(s). Reply with one JSON object and nothing else, with these keys:
        "total" (number): What is the total?
        Example: {"total": ...}
    """
    types = types or {}
    lines = [
        preamble or "Answer using the image(s). Reply with one JSON object and nothing else, with these keys:"
    ]
    for key, question in fields.items():
        lines.append(f'"{key}" ({types.get(key, "string")}): {question}')
    lines.append("Example: {" + ", ".join(f'"{k}": ...' for k in fields) + "}")
    return "\n".join(lines)


def _candidates(text: str) -> list[str]:
    """Fenced blocks first (in order), then the raw text."""
    blocks = [m.group(1) for m in _FENCE.finditer(text)]
    return [*blocks, text]


def parse_json_answer(
    text: str, required: list[str] | None = None, types: dict[str, str] | None = None
) -> ParseResult:
    """Find and parse the first JSON object in `text`; tolerate code fences, text before and after.

    With `required`, missing keys are listed in `problems` (the value is still returned, ok stays True);
    with `types` ("string" | "number" | "integer"), wrong types are listed too.

    Example:
        >>> print(parse_json_answer("no json here").error)
        no JSON object found in the answer (starts: 'no json here')
        >>> parse_json_answer('{"a": 1}', required=["a", "b"]).problems
        ["missing key 'b'"]
    """
    if not isinstance(text, str) or not text.strip():
        return ParseResult(False, error="empty answer: the model returned no text")
    decoder = json.JSONDecoder()
    first_error = ""
    for chunk in _candidates(text):
        for match in re.finditer(r"[{\[]", chunk):
            try:
                value, _end = decoder.raw_decode(chunk, match.start())
            except json.JSONDecodeError as err:
                first_error = first_error or _describe(err)
                continue
            if not isinstance(value, dict):
                first_error = (
                    first_error or f"the JSON is a {type(value).__name__}, expected an object with keys"
                )
                continue
            return ParseResult(True, value, problems=_schema_problems(value, required, types))
    if first_error:
        return ParseResult(False, error=first_error)
    return ParseResult(False, error=f"no JSON object found in the answer (starts: {text.strip()[:40]!r})")


def _describe(err: json.JSONDecodeError) -> str:
    msg = err.msg.removesuffix(" starting at")
    where = f"invalid JSON at line {err.lineno} column {err.colno}: {msg}"
    if not err.doc[err.pos :].strip() or err.msg.startswith("Unterminated string"):
        where += " (the answer stops early: raise max_new_tokens?)"
    return where


def _schema_problems(
    value: dict[str, Any], required: list[str] | None, types: dict[str, str] | None
) -> list[str]:
    problems = [f"missing key {k!r}" for k in (required or []) if k not in value]
    for key, kind in (types or {}).items():
        expected = FIELD_TYPES.get(kind)
        if (
            key in value
            and expected
            and (not isinstance(value[key], expected) or isinstance(value[key], bool))
        ):
            problems.append(f"key {key!r} should be {kind}, got {type(value[key]).__name__}")
    return problems
