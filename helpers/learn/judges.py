"""Judges: decide whether a reader's answer matches the reference the helpers computed, and say what is off.

Each factory returns ``judge(answer, reference) -> Verdict``. A wrong answer's detail says how it is off
(too high, which keys differ, which fields score low) without giving the reference away.

Example:
    >>> number(rel_tol=0.01)(101, 100).ok, number(rel_tol=0.01)(120, 100).detail
    (True, 'your number is 20.0% too high')
    >>> mapping()({"a": 1}, {"a": 2}).detail
    "1 of 1 keys have the wrong value: ['a']"
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from helpers.cases.evaluation import score_fields
from helpers.estimate.placement import device_key
from helpers.infer.structured import parse_json_answer

from .registry import Verdict

Judge = Callable[[Any, Any], Verdict]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(rel_tol: float = 0.0, abs_tol: float = 0.0) -> Judge:
    """Numbers: right within `rel_tol` (relative) or `abs_tol` (absolute); exact when both are 0.

    Example:
        >>> number()(943, 943).ok
        True
    """

    def judge(answer: Any, reference: Any) -> Verdict:
        if not _is_number(answer):
            return Verdict(False, f"give a number (e.g. 12.5), not {type(answer).__name__} {answer!r}")
        if math.isclose(answer, reference, rel_tol=rel_tol, abs_tol=abs_tol):
            return Verdict(True)
        way = "high" if answer > reference else "low"
        if reference:
            return Verdict(False, f"your number is {abs(answer / reference - 1):.1%} too {way}")
        return Verdict(False, f"your number is too {way}")

    return judge


def text() -> Judge:
    """Strings compared after stripping spaces and case-folding.

    Example:
        >>> text()(" Qwen3_VL ", "qwen3_vl").ok
        True
    """

    def judge(answer: Any, reference: Any) -> Verdict:
        if not isinstance(answer, str):
            return Verdict(False, f"give a string, not {type(answer).__name__}")
        ok = answer.strip().casefold() == str(reference).strip().casefold()
        return Verdict(ok, "" if ok else "that is not it")

    return judge


def one_of(wrong: str = "that is not one of the right answers") -> Judge:
    """A string that must be one of the reference list (several answers are right); `wrong` is the detail
    a wrong answer gets.

    Example:
        >>> one_of()("b", ["a", "b"]).ok
        True
    """

    def judge(answer: Any, reference: list[str]) -> Verdict:
        if not isinstance(answer, str):
            return Verdict(False, f"give a string, not {type(answer).__name__}")
        ok = answer.strip().casefold() in {r.casefold() for r in reference}
        return Verdict(ok, "" if ok else f"{answer!r}: {wrong}")

    return judge


def sequence() -> Judge:
    """A list or tuple equal to the reference, item by item.

    Example:
        >>> sequence()((992, 320), [992, 320]).ok
        True
    """

    def judge(answer: Any, reference: Any) -> Verdict:
        if not isinstance(answer, list | tuple):
            return Verdict(False, f"give a list or tuple like {type(reference).__name__}, not {answer!r}")
        if len(answer) != len(reference):
            return Verdict(False, f"give {len(reference)} items, not {len(answer)}")
        wrong = [i for i, (a, r) in enumerate(zip(answer, reference, strict=True)) if a != r]
        return Verdict(not wrong, f"item(s) {wrong} are off" if wrong else "")

    return judge


def mapping() -> Judge:
    """A dict equal to the reference: same keys (compared as strings), same values.

    Example:
        >>> mapping()({"A100-40GB": False}, {"A100-40GB": False}).ok
        True
    """

    def judge(answer: Any, reference: dict) -> Verdict:
        if not isinstance(answer, dict):
            return Verdict(False, f"give a dict, not {type(answer).__name__}")
        got = {str(k): v for k, v in answer.items()}
        want = {str(k): v for k, v in reference.items()}
        if set(got) != set(want):
            return Verdict(False, f"the keys should be {sorted(want)}")
        wrong = sorted(k for k in want if got[k] != want[k])
        return Verdict(
            not wrong, f"{len(wrong)} of {len(want)} keys have the wrong value: {wrong}" if wrong else ""
        )

    return judge


def device() -> Judge:
    """A device: 'cpu', 'disk', 0, 'cuda:0' … (normalised like accelerate's device maps).

    Example:
        >>> device()("cuda:0", 0).ok, device()("cpu", "cpu").ok
        (True, True)
    """

    def judge(answer: Any, reference: Any) -> Verdict:
        if not isinstance(answer, int | str) or isinstance(answer, bool):
            return Verdict(False, "give a device: 'cpu', 'disk', or a GPU number / 'cuda:N'")
        ok = device_key(answer) == device_key(reference)
        return Verdict(ok, "" if ok else "that is not where it lands on this machine")

    return judge


def fields(min_score: float = 0.95) -> Judge:
    """A JSON answer (dict or JSON text) scored field by field by the case studies' evaluator
    (helpers.cases.evaluation.score_fields); right when the mean score reaches `min_score`.

    Example:
        >>> fields()('{"total": "1,234.50"}', {"total": 1234.5}).ok
        True
    """

    def judge(answer: Any, reference: dict[str, Any]) -> Verdict:
        if isinstance(answer, str):
            parsed = parse_json_answer(answer)
            if not parsed.ok or not isinstance(parsed.value, dict):
                return Verdict(False, f"your JSON does not parse: {parsed.error or 'not an object'}")
            answer = parsed.value
        if not isinstance(answer, dict):
            return Verdict(False, f"give a dict or a JSON object, not {type(answer).__name__}")
        scores = score_fields(answer, reference)
        low = [f.name for f in scores.fields if f.score < 1.0]
        ok = scores.mean >= min_score
        detail = (
            "" if ok else f"the evaluator scores it {scores.mean:.2f} (needed {min_score}); fields off: {low}"
        )
        return Verdict(ok, detail)

    return judge
