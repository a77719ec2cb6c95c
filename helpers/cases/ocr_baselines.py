"""The OCR baselines of the medical and financial case studies: what a classic pipeline reads from the pages.

OCR lines come from helpers.cases.ocr (rapidocr); each baseline uses the document's schema (which analytes
or line items, their printed labels), never its values. The visual-QA set's rule-based baseline is
`helpers.cases.ocr.answer_with_rules`.

Example:
    >>> from helpers.cases.medical_docs import lab_report
    >>> answer = ocr_lab_answer(lab_report(0, "en"))     # doctest: +SKIP
    >>> parse_money("(1,234)")
    -1234
"""

from __future__ import annotations

import re
from typing import Any

from helpers.cases.domain_checks import normalize_flag
from helpers.cases.financial_docs import EXTRACT_KEYS, YEARS, Statement, label
from helpers.cases.medical_docs import LabReport
from helpers.cases.ocr import cells_right_of, find_label, norm_ocr, ocr_lines


def ocr_lab_answer(report: LabReport, image: Any | None = None) -> dict[str, Any]:
    """What a classic pipeline reads: OCR lines (helpers.cases.ocr), the analyte's printed name as the row
    label, the first plain number right of it as the value, ↑/H or ↓/L in the row as the flag (none -> 'N').

    Uses the schema (which analytes, their names), never the values. Missing rows come back as None.
    """
    lines = ocr_lines(image if image is not None else report.image)
    out: dict[str, Any] = {}
    for it in report.items:
        label = find_label(lines, it["name_zh"] if report.lang == "zh" else it["name_en"])
        value = flag = None
        if label is not None:
            row = [norm_ocr(ln.text) for ln in cells_right_of(lines, label)]
            nums = [t for t in row if re.fullmatch(r"\d+(?:\.\d+)?", t)]
            value = float(nums[0]) if nums else None
            marks = [t for t in row if len(t) == 1 and not t.isdigit()]
            flag = normalize_flag(marks[-1]) if marks else "N"  # the last mark on the row wins
        out[it["code"]] = value
        out[f"{it['code']}_flag"] = flag
    return out


def parse_money(text: str) -> int | None:
    """'1,234' -> 1234, '(1,234)' -> -1234, anything else -> None.

    Example:
        >>> parse_money("(81,595)"), parse_money("净利润")
        (-81595, None)
    """
    t = text.replace(" ", "").replace("（", "(").replace("）", ")")
    m = re.fullmatch(r"(\()?(\d{1,3}(?:,\d{3})*|\d+)\)?", t)
    if not m:
        return None
    v = int(m.group(2).replace(",", ""))
    return -v if m.group(1) else v


def ocr_statement_answer(st: Statement, pages: list[Any] | None = None) -> dict[str, Any]:
    """What a classic pipeline reads: OCR each page (helpers.cases.ocr), find each line item's printed label,
    and take the numbers on its row: the one under the '2025' header for 2025, under '2024' for 2024."""
    all_lines = [ocr_lines(p) for p in (pages if pages is not None else st.pages)]
    out: dict[str, Any] = {f"{k}_{y}": None for y in YEARS for k in EXTRACT_KEYS}
    for key in EXTRACT_KEYS:
        for lines in all_lines:
            anchor = find_label(lines, label(key, st.lang))
            heads = {y: next((ln for ln in lines if ln.text.strip().startswith(str(y))), None) for y in YEARS}
            if anchor is None or None in heads.values():
                continue
            cells = [(ln, parse_money(ln.text)) for ln in cells_right_of(lines, anchor)]
            cells = [(ln, v) for ln, v in cells if v is not None]
            for y, head in heads.items():
                near = [v for ln, v in cells if abs(ln.box[2] - head.box[2]) < 60]
                if near and out[f"{key}_{y}"] is None:
                    out[f"{key}_{y}"] = near[0]
            if cells:
                break
    return out
