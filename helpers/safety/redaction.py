"""Find and replace personal identifiers in text, keeping clinical values, units, ranges and money intact.

What is redacted: Chinese resident ID numbers (18 digits, checksum verified), phone numbers (CN mobile,
CN landline, international with a leading +), e-mail addresses, and — by the label in front of them —
names, medical-record / patient / admission numbers, birth dates, ID numbers with a bad checksum, and
addresses; plus Chinese street addresses (…省/市…区/县…路/街…号) found without a label.
Numbers that are measurements (5.6 mmol/L, 3.9-6.1, ¥1,234,567.89, 2026-03-14) never match: every
numeric pattern refuses a neighbouring digit, decimal point, comma or slash.

Example:
    >>> r = redact("患者姓名：张伟  电话 13812345678  血糖 6.8 mmol/L (3.9-6.1)")
    >>> r.text
    '患者姓名：[NAME]  电话 [PHONE]  血糖 6.8 mmol/L (3.9-6.1)'
    >>> [f.kind for f in r.findings]
    ['NAME', 'PHONE']
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def cn_id_checksum_ok(number: str) -> bool:
    """True when an 18-character Chinese resident ID number has a valid ISO 7064 MOD 11-2 check digit.

    Example:
        >>> cn_id_checksum_ok("11010519491231002X")
        True
        >>> cn_id_checksum_ok("110105194912310021")
        False
    """
    number = number.upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    return cn_id_check_digit(number[:17]) == number[17]


def cn_id_check_digit(first17: str) -> str:
    """The check digit for the first 17 digits of a Chinese ID number (used to build synthetic ones).

    Example:
        >>> cn_id_check_digit("11010519491231002")
        'X'
    """
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True)
class Finding:
    """One redacted span: its kind, where it was, its placeholder and a short digest (never the text)."""

    kind: str
    start: int
    end: int
    placeholder: str
    digest: str


@dataclass
class RedactionResult:
    """Redacted text and the record of what was replaced. `originals` stays in-process, out of repr."""

    text: str
    findings: list[Finding] = field(default_factory=list)
    originals: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def counts(self) -> dict[str, int]:
        """How many spans of each kind were redacted, e.g. {'PHONE': 2, 'NAME': 1}."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out


_NO_NUM_BEFORE = r"(?<![\w.,/+\-])"
_NO_NUM_AFTER = r"(?![\w/]|[.,]\d)"
_SEP = r"[ \-]?"

# Labels after which the value is an identifier. Order matters only for overlapping labels.
_FIELD_WORDS = r"(?!性别|年龄|电话|手机|病历|住院|门诊|身份|地址|住址|出生|科室|报告|标本|床号|日期|联系)"
_CJK_NAME = (
    _FIELD_WORDS + r"[\u4e00-\u9fa5·]{2,5}?(?=[^\u4e00-\u9fa5·]|$|[性年男女电科床病住门身出地就送报检])"
)
_EN_NAME = (
    r"(?:(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+)?[A-Z][a-z'][a-zA-Z'\-]*(?: [A-Z]\.)?(?: [A-Z][a-z'][a-zA-Z'\-]*){0,2}"
)
_H = r"[ \t\u3000]*"  # horizontal space only: a label never takes its value from the next line
_COLON = _H + r"[:：]?" + _H
_LABELLED: list[tuple[str, str]] = [
    (
        "NAME",
        r"(?:患者姓名|病人姓名|姓\s*名|患者|病人|受检者|送检医生|申请医生|报告医生|审核医生|检验者|审核者|医师|联系人)"
        + _COLON
        + "("
        + _CJK_NAME
        + ")",
    ),
    (
        "NAME",
        r"(?i:patient\s+name|patient|name|physician|doctor|ordered\s+by|reported\s+by|verified\s+by"
        r"|referring\s+(?:physician|doctor)|contact)" + _H + r"[:：]" + _H + "(" + _EN_NAME + ")",
    ),
    (
        "RECORD_NO",
        r"(?:病历号|病案号|住院号|门诊号|就诊卡号|就诊号|医保卡号|登记号|条码号|标本号|床号"
        r"|(?i:MRN|medical\s+record\s+(?:no|number)\.?|record\s+(?:no|number)\.?|patient\s+id|hospital\s+no\.?"
        r"|admission\s+(?:no|number)\.?|specimen\s+(?:no|id)\.?|bed\s+no\.?|insurance\s+(?:no|id)\.?))"
        + _H
        + r"(?:#|[:：])?"
        + _H
        + r"([A-Za-z]{0,4}[\-]?\d[\w\-]{2,24})",
    ),
    (
        "ID_NUMBER",
        r"(?:身份证号码|身份证号|身份证|证件号码?|(?i:national\s+id(?:\s+no\.?)?|id\s+(?:card\s+)?(?:no|number)\.?|passport\s+no\.?))"
        + _COLON
        + r"([A-Za-z0-9]{6,20})",
    ),
    (
        "BIRTH_DATE",
        r"(?:出生日期|出生年月|生日|(?i:date\s+of\s+birth|DOB|birth\s+date))"
        + _COLON
        + r"(\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?|\d{1,2}/\d{1,2}/\d{4})",
    ),
    (
        "ADDRESS",
        r"(?:家庭住址|联系地址|住址|地址|(?i:home\s+address|address))"
        + _COLON
        + r"([^\n|]{4,80}?)(?=\s{2,}|\n|$|[|])",
    ),
]

# (kind, pattern, verify_checksum): an ID number found without a label counts only with a valid check digit.
_PATTERNS: list[tuple[str, str, bool]] = [
    ("EMAIL", r"(?<![\w.+-])([\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})", False),
    (
        "ID_NUMBER",
        _NO_NUM_BEFORE
        + r"(\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])"
        + _NO_NUM_AFTER,
        True,
    ),
    (
        "PHONE",
        _NO_NUM_BEFORE
        + r"(\+\d{1,3}[ \-]?(?:\(\d{1,4}\)[ \-]?)?\d{1,4}(?:[ \-]?\d{2,4}){2,4})"
        + _NO_NUM_AFTER,
        False,
    ),
    (
        "PHONE",
        _NO_NUM_BEFORE
        + r"((?:\(?\+?86\)?[ \-]?)?1[3-9]\d"
        + _SEP
        + r"\d{4}"
        + _SEP
        + r"\d{4})"
        + _NO_NUM_AFTER,
        False,
    ),
    (
        "PHONE",
        _NO_NUM_BEFORE + r"((?:\(0\d{2,3}\)|0\d{2,3})[ \-]?[2-9]\d{2,3}[ \-]?\d{4})" + _NO_NUM_AFTER,
        False,
    ),
    (
        "ADDRESS",
        r"([\u4e00-\u9fa5]{2,8}(?:省|自治区|市)[\u4e00-\u9fa5]{0,8}(?:市|区|县|州)?[\u4e00-\u9fa5]{1,10}(?:路|街|大道|巷|道)"
        r"\d{1,5}(?:号|弄)(?:[\u4e00-\u9fa5\d]{0,12}(?:室|楼|单元|栋|幢))?)",
        False,
    ),
]

_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
# (kind, regex, verify_checksum). A label never starts inside a word or a placeholder ("[ADDRESS]" must not
# read as the label "address"); a labelled value is redacted whatever its check digit.
_COMPILED: list[tuple[str, re.Pattern[str], bool]] = [
    (k, re.compile(r"(?<![\[A-Za-z])" + p), False) for k, p in _LABELLED
] + [(k, re.compile(p), verify) for k, p, verify in _PATTERNS]


KINDS = frozenset([k for k, _ in _LABELLED] + [k for k, _, _ in _PATTERNS])  # every kind `redact` replaces


def _spans(text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for kind, rx, verify_checksum in _COMPILED:
        for m in rx.finditer(text):
            start, end = m.span(1)
            value = m.group(1).strip()
            if not value or _PLACEHOLDER.fullmatch(value):  # already redacted: keeps `redact` idempotent
                continue
            end = start + len(m.group(1).rstrip())
            if verify_checksum and not cn_id_checksum_ok(value):
                continue
            found.append((start, end, kind))
    # Keep the earliest, then longest span; drop spans overlapping one already kept.
    found.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    kept: list[tuple[int, int, str]] = []
    for span in found:
        if kept and span[0] < kept[-1][1]:
            continue
        kept.append(span)
    return kept


def redact(text: str, keep: set[str] | None = None) -> RedactionResult:
    """Replace every identifier in `text` by ``[KIND]``; `keep` names kinds to leave alone.

    Example:
        >>> redact("Call +44 20 7946 0958 or mail a.b@example.org; Hb 13.2 g/dL").text
        'Call [PHONE] or mail [EMAIL]; Hb 13.2 g/dL'
    """
    keep = keep or set()
    out, findings, originals, last = [], [], {}, 0
    for start, end, kind in _spans(text):
        if kind in keep:
            continue
        original = text[start:end]
        placeholder = f"[{kind}]"
        out.append(text[last:start] + placeholder)
        last = end
        digest = hashlib.sha256(original.encode()).hexdigest()[:8]
        findings.append(Finding(kind, start, end, placeholder, digest))
        originals.setdefault(kind, []).append(original)
    out.append(text[last:])
    return RedactionResult("".join(out), findings, originals)


def contains_identifiers(text: str) -> bool:
    """True when `redact` would change `text`."""
    return bool(_spans(text))
