"""Domain checks: does an answer (or the ground truth) obey the rules its document must obey?

Financial: assets = liabilities + equity; subtotals add up; closing cash in the cash-flow statement
equals balance-sheet cash; period-over-period moves are consistent (opening cash = last year's
closing cash; retained earnings move by net profit less dividends; a stated growth rate matches the
two figures). Medical: each abnormal flag agrees with the printed reference range; the imaging
finding is linked to the sentence whose side, lobe and size match the marked region.
A check on missing figures is reported as skipped, never as passed.

Example:
    >>> balance = {"total_assets_2025": 100, "total_liabilities_2025": 60, "total_equity_2025": 40}
    >>> checks = check_extraction(balance)
    >>> [(c.name, c.status) for c in checks][:1]
    [('assets = liabilities + equity (2025)', 'pass')]
    >>> flag_for(7.0, 3.9, 6.1)
    'H'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from helpers.cases.evaluation import parse_number

YEARS = (2025, 2024)
SUMS = {  # total: (parts, sign of each part)
    "current_assets": ["cash", "receivables", "inventory"],
    "noncurrent_assets": ["ppe", "intangibles"],
    "total_assets": ["current_assets", "noncurrent_assets"],
    "current_liabilities": ["payables", "short_loans"],
    "total_liabilities": ["current_liabilities", "long_loans"],
    "total_equity": ["share_capital", "retained"],
    "total_liabilities_equity": ["total_liabilities", "total_equity"],
    "gross_profit": ["revenue", "-cost_of_sales"],
    "operating_profit": ["gross_profit", "-selling", "-admin", "-rnd"],
    "profit_before_tax": ["operating_profit", "-finance_costs"],
    "net_profit": ["profit_before_tax", "-income_tax"],
    "cfo": ["cf_net_profit", "depreciation", "working_capital"],
    "cff": ["borrowings", "dividends"],
    "net_change": ["cfo", "cfi", "cff"],
    "cash_end": ["cash_begin", "net_change"],
}
# Pixels between a nodule's edge and the box around it (medical_docs draws it; the link check undoes it).
REGION_PAD = 8


@dataclass(frozen=True)
class Check:
    """One rule: 'pass', 'fail' or 'skip' (figures missing), with what was expected and found."""

    name: str
    status: str
    expected: float | None = None
    found: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "pass"


def _num(values: dict[str, Any], key: str) -> float | None:
    return parse_number(values.get(key))


def _sum(values: dict[str, Any], *keys: str) -> float | None:
    """The figures named by `keys` added up, a leading '-' subtracting one; None when any is missing."""
    nums = [_num(values, k.lstrip("-")) for k in keys]
    if any(n is None for n in nums):
        return None
    return sum(-n if k.startswith("-") else n for k, n in zip(keys, nums, strict=True))  # type: ignore[operator]


def _compare(name: str, expected: float | None, found: float | None, tol: float = 0.5) -> Check:
    if expected is None or found is None:
        return Check(name, "skip", expected, found)
    return Check(name, "pass" if abs(expected - found) <= tol else "fail", expected, found)


def check_period(values: dict[str, Any], year: int | str = "") -> list[Check]:
    """Every subtotal and total of one period, and the cash tie-out; `values` maps line keys to figures."""
    suffix = f" ({year})" if year != "" else ""
    checks = []
    for total, parts in SUMS.items():
        checks.append(
            _compare(
                f"{total} = {' + '.join(parts)}{suffix}".replace("+ -", "- "),
                _sum(values, *parts),
                _num(values, total),
            )
        )
    checks.append(
        _compare(
            f"assets = liabilities + equity{suffix}",
            _sum(values, "total_liabilities", "total_equity"),
            _num(values, "total_assets"),
        )
    )
    checks.append(
        _compare(
            f"cash-flow closing cash = balance-sheet cash{suffix}",
            _num(values, "cash"),
            _num(values, "cash_end"),
        )
    )
    return checks


def check_periods(
    current: dict[str, Any], previous: dict[str, Any], years: tuple[int, int] = YEARS
) -> list[Check]:
    """Both periods' own checks, plus the links between them (opening = last closing, retained earnings)."""
    y1, y0 = years
    checks = check_period(current, y1) + check_period(previous, y0)
    checks.append(
        _compare(
            f"opening cash {y1} = closing cash {y0}", _num(previous, "cash_end"), _num(current, "cash_begin")
        )
    )
    opening, flow = _num(previous, "retained"), _sum(current, "net_profit", "dividends")
    moved = None if opening is None or flow is None else opening + flow
    checks.append(
        _compare(f"retained {y1} = retained {y0} + net profit + dividends", moved, _num(current, "retained"))
    )
    return checks


def check_extraction(flat: dict[str, Any], years: tuple[int, ...] = YEARS) -> list[Check]:
    """Checks an extraction answer (``{key}_{year}`` fields) can support: A = L + E and cash continuity.

    Example:
        >>> [c.status for c in check_extraction({"total_assets_2025": 100, "total_liabilities_2025": 70,
        ...                                      "total_equity_2025": 40})][:1]
        ['fail']
    """
    checks = []
    for y in years:
        f = {k[: -len(str(y)) - 1]: v for k, v in flat.items() if k.endswith(f"_{y}")}
        checks.append(
            _compare(
                f"assets = liabilities + equity ({y})",
                _sum(f, "total_liabilities", "total_equity"),
                _num(f, "total_assets"),
            )
        )
    return checks


def check_change(claimed: Any, current: Any, previous: Any, tol: float = 0.005) -> Check:
    """A stated period-over-period change (fraction, e.g. 0.125 or '12.5%') against the two figures.

    Example:
        >>> check_change("12.5%", 1125, 1000).status
        'pass'
    """
    c, p = parse_number(current), parse_number(previous)
    stated = parse_number(claimed)
    if stated is not None and isinstance(claimed, str) and "%" in claimed:
        stated /= 100
    expected = None if c is None or p in (None, 0) else c / p - 1  # type: ignore[operator]
    return _compare("stated change = current / previous - 1", expected, stated, tol)


# --- medical -------------------------------------------------------------------------------------
def flag_for(value: float, low: float, high: float) -> str:
    """'H' above the range, 'L' below it, 'N' inside (bounds included)."""
    return "H" if value > high else "L" if value < low else "N"


def normalize_flag(text: Any) -> str:
    """A flag as written -> 'H' / 'L' / its first character upper-cased: 'high', 'h', '↑' -> 'H'; '↓' -> 'L'.

    Example:
        >>> normalize_flag(" ↑"), normalize_flag("low"), normalize_flag("N")
        ('H', 'L', 'N')
    """
    return str(text).strip().upper()[:1].replace("↑", "H").replace("↓", "L")


def parse_range(text: str) -> tuple[float | None, float | None]:
    """A printed reference range: '3.9-6.1', '3.9–6.1', '<5.2', '≥60' -> (low, high).

    Example:
        >>> parse_range("3.50-5.30"), parse_range("<5.2")
        ((3.5, 5.3), (None, 5.2))
    """
    t = text.replace("–", "-").replace("~", "-").replace("～", "-").replace(" ", "")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)", t)
    if m:
        return float(m.group(1)), float(m.group(2))
    m = re.fullmatch(r"(<|≤|<=)(\d+(?:\.\d+)?)", t)
    if m:
        return None, float(m.group(2))
    m = re.fullmatch(r"(>|≥|>=)(\d+(?:\.\d+)?)", t)
    if m:
        return float(m.group(2)), None
    raise ValueError(f"cannot read the reference range {text!r}: expected forms like '3.9-6.1' or '<5.2'")


def check_lab_flags(answer: dict[str, Any], ranges: dict[str, tuple[float, float]]) -> list[Check]:
    """For each analyte code in `ranges`: the answer's flag (``CODE_flag``) must agree with value and range.

    `answer` is flat: ``{"GLU": 7.0, "GLU_flag": "H", ...}``; found/expected hold 1.0 for a consistent flag.
    """
    checks = []
    for code, (low, high) in ranges.items():
        value, flag = _num(answer, code), answer.get(f"{code}_flag")
        if value is None or flag is None:
            checks.append(Check(f"{code} flag agrees with range", "skip"))
            continue
        want = flag_for(value, low, high)
        got = normalize_flag(flag)
        checks.append(
            Check(
                f"{code} flag agrees with range ({value:g} in {low:g}-{high:g} -> {want})",
                "pass" if got == want else "fail",
                1.0,
                1.0 if got == want else 0.0,
            )
        )
    return checks


_SIDE = {"右": "right", "左": "left", "right": "right", "left": "left"}
_ZONE = {"上": "upper", "下": "lower", "upper": "upper", "lower": "lower"}


def region_side_zone(region: tuple[int, int, int, int], width: int, height: int) -> tuple[str, str]:
    """Patient side and zone of a box on an axial image (image left = patient right; top half = upper).

    Example:
        >>> region_side_zone((10, 10, 40, 40), 512, 512)
        ('right', 'upper')
    """
    cx, cy = (region[0] + region[2]) / 2, (region[1] + region[3]) / 2
    return ("right" if cx < width / 2 else "left"), ("upper" if cy < height / 2 else "lower")


def sentence_facts(sentence: str) -> dict[str, Any]:
    """Side, lobe and size read from a report sentence (Chinese or English), by its own words.

    Example:
        >>> sentence_facts("右肺下叶见一结节影，大小约 10 mm，边界清楚。")
        {'side': 'right', 'zone': 'lower', 'size_mm': 10}
    """
    s = sentence.lower()
    side = re.search(r"(右|左)肺|\b(right|left)\b", s)
    zone = re.search(r"(上|下)叶|\b(upper|lower)\b", s)
    size = re.search(r"(\d+)\s*mm", s)
    return {
        "side": _SIDE[next(g for g in side.groups() if g)] if side else None,
        "zone": _ZONE[next(g for g in zone.groups() if g)] if zone else None,
        "size_mm": int(size.group(1)) if size else None,
    }


def check_imaging_link(case: Any, sentence_index: Any, size_tol_mm: float = 2.0) -> list[Check]:
    """Does the chosen sentence describe the marked region? Side and lobe from the region's position
    (radiological convention: image left = patient right), size from the box width at the pixel spacing."""
    idx = parse_number(sentence_index)
    if idx is None or not 0 <= int(idx) < len(case.sentences):
        return [Check("linked sentence exists", "fail", None, idx)]
    facts = sentence_facts(case.sentences[int(idx)])
    width, height = case.image.size
    side, zone = region_side_zone(case.region, width, height)
    size_mm = (
        case.region[2] - case.region[0] - 2 * REGION_PAD
    ) * case.mm_per_px  # the box sits REGION_PAD outside
    return [
        Check(
            "linked sentence: same side (image left = patient right)",
            "pass" if facts["side"] == side else "fail",
        ),
        Check("linked sentence: same lobe", "pass" if facts["zone"] == zone else "fail"),
        _compare(
            "linked sentence: size matches the marked region (mm)",
            round(size_mm, 1),
            facts["size_mm"],
            size_tol_mm,
        ),
    ]


def summary(checks: list[Check]) -> dict[str, int]:
    """Counts of pass / fail / skip."""
    out = {"pass": 0, "fail": 0, "skip": 0}
    for c in checks:
        out[c.status] += 1
    return out
