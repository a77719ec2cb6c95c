"""A medical-output policy for answers: no diagnosis, no prescription, and a required disclaimer.

The model may read values off a document and say whether they are inside the printed reference range
(that is on the page); it may not turn them into a diagnosis or a treatment. Sentences that do are
replaced, and the disclaimer is appended when missing.

Example:
    >>> r = apply_medical_policy("Glucose is 7.8 mmol/L, above the range. The patient has diabetes.")
    >>> r.violations
    ['diagnosis']
    >>> r.text.startswith("Glucose is 7.8 mmol/L, above the range. [withheld")
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DISCLAIMER_EN = (
    "Note: automated reading of a document, not medical advice or a diagnosis; "
    "a qualified clinician must review it."
)
DISCLAIMER_ZH = "提示：本结果为对文档内容的自动读取，不构成医疗建议或诊断，须由执业医师审核。"
WITHHELD_EN = "[withheld: diagnostic or treatment statement — ask a clinician]"
WITHHELD_ZH = "[已删除：诊断或治疗性表述——请咨询医生]"

_I = re.IGNORECASE
CHECKS: list[tuple[str, re.Pattern[str]]] = [
    (
        "diagnosis",
        re.compile(
            r"\b(?:diagnos(?:is|ed|e)|(?:patient|you)\s+(?:has|have|suffers?\s+from)|consistent\s+with|"
            r"indicative\s+of|suggestive\s+of|confirms?)\b",
            _I,
        ),
    ),
    ("diagnosis", re.compile(r"诊断为|诊断是|确诊|患有|得了|考虑为|提示为|符合.{0,8}(?:病|症|癌|炎)|可诊断")),
    (
        "treatment",
        re.compile(
            r"\b(?:prescribe|should\s+take|start\s+(?:taking|on)|dose\s+of|take\s+\d+\s*mg|stop\s+taking)\b",
            _I,
        ),
    ),
    ("treatment", re.compile(r"建议服用|应服用|开始服用|处方|停用|停药|剂量为|每日服用")),
]
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?|\n")


@dataclass
class PolicyResult:
    """The answer after the policy, which rules fired, and whether the disclaimer had to be added."""

    text: str
    violations: list[str] = field(default_factory=list)
    disclaimer_added: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.violations) or self.disclaimer_added


def _is_chinese(text: str) -> bool:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return cjk > len(text) * 0.15


def apply_medical_policy(answer: str, lang: str | None = None) -> PolicyResult:
    """Withhold diagnostic/treatment sentences and make sure the disclaimer is there.

    Example:
        >>> apply_medical_policy("血红蛋白 132 g/L，在参考范围内。").disclaimer_added
        True
    """
    zh = _is_chinese(answer) if lang is None else lang.startswith("zh")
    had_disclaimer = DISCLAIMER_EN in answer or DISCLAIMER_ZH in answer
    body = answer.replace(DISCLAIMER_EN, "").replace(DISCLAIMER_ZH, "").rstrip()
    violations: list[str] = []
    parts = []
    for m in _SENTENCE.finditer(body):
        sentence = m.group(0)
        fired = [name for name, rx in CHECKS if rx.search(sentence)]
        if fired:
            violations.extend(n for n in fired if n not in violations)
            lead = sentence[: len(sentence) - len(sentence.lstrip())]
            parts.append(lead + (WITHHELD_ZH if zh else WITHHELD_EN))
        else:
            parts.append(sentence)
    text = "".join(parts).rstrip()
    disclaimer = DISCLAIMER_ZH if zh else DISCLAIMER_EN
    text = f"{text}\n{disclaimer}" if text else disclaimer
    return PolicyResult(text, violations, not had_disclaimer)
