"""Domain checks pass on the ground truth and catch deliberately damaged answers."""

from __future__ import annotations

import pytest

from helpers.cases.domain_checks import (
    check_change,
    check_extraction,
    check_imaging_link,
    check_lab_flags,
    check_period,
    check_periods,
    parse_range,
    sentence_facts,
    summary,
)
from helpers.cases.financial_docs import statement
from helpers.cases.medical_docs import imaging_case, lab_report, wrong_sentence


def test_truth_passes_and_each_damage_is_caught():
    st = statement(7, "en")
    cur, prev = dict(st.values[2025]), dict(st.values[2024])
    assert summary(check_periods(cur, prev))["fail"] == 0
    damaged = dict(cur, inventory=cur["inventory"] + 1000)  # a misread line item
    failed = {c.name for c in check_period(damaged, 2025) if c.status == "fail"}
    assert any(n.startswith("current_assets") for n in failed)
    swapped = dict(prev, cash_end=prev["cash_end"] + 10)
    names = {c.name for c in check_periods(cur, swapped) if c.status == "fail"}
    assert "opening cash 2025 = closing cash 2024" in names


def test_extraction_checks_and_skips():
    st = statement(7, "zh")
    assert all(c.ok for c in check_extraction(st.truth))
    bad = dict(st.truth, total_equity_2025=st.truth["total_equity_2025"] * 10)
    assert [c.status for c in check_extraction(bad)] == ["fail", "pass"]
    assert [c.status for c in check_extraction({})] == ["skip", "skip"]
    as_text = {k: f"¥{v:,}" for k, v in st.truth.items()}  # figures given as printed strings
    assert all(c.ok for c in check_extraction(as_text))


def test_stated_changes():
    assert check_change(0.25, 125, 100).ok and check_change("25%", 125, 100).ok
    assert check_change("15%", 125, 100).status == "fail"
    assert check_change(None, 125, 100).status == "skip"


def test_lab_flags():
    rep = lab_report(3, "en")
    ranges = rep.ranges
    assert all(c.ok for c in check_lab_flags(rep.truth, ranges))
    flipped = dict(rep.truth)
    code = rep.items[0]["code"]
    flipped[f"{code}_flag"] = "H" if rep.truth[f"{code}_flag"] != "H" else "L"
    assert [c.status for c in check_lab_flags(flipped, ranges)].count("fail") == 1
    assert check_lab_flags({"GLU": 7.2, "GLU_flag": "↑"}, {"GLU": (3.9, 6.1)})[0].ok


def test_ranges_and_sentences():
    assert parse_range("3.9–6.1") == (3.9, 6.1) and parse_range("≥60") == (60.0, None)
    with pytest.raises(ValueError, match="reference range"):
        parse_range("normal")
    assert sentence_facts("A 12 mm well-defined nodule is seen in the left upper lobe.") == {
        "side": "left",
        "zone": "upper",
        "size_mm": 12,
    }


def test_imaging_link_wrong_sentence_and_bad_index():
    case = imaging_case(3, "en")
    wrong = wrong_sentence(case)
    assert not all(c.ok for c in check_imaging_link(case, wrong))
    assert check_imaging_link(case, 99)[0].status == "fail"
    assert check_imaging_link(case, "not a number")[0].status == "fail"


def test_damaged_answers_are_caught_as_documented():
    from helpers.cases.financial_docs import damaged_statement_answers
    from helpers.cases.medical_docs import damaged_lab_answers

    st = statement(4, "zh")
    dmg = damaged_statement_answers(st)
    assert summary(check_extraction(dmg["units_slip"]))["fail"] == 1
    assert summary(check_extraction(dmg["misread_digit"]))["fail"] == 1
    assert (
        summary(check_extraction(dmg["years_swapped"]))["fail"] == 0
    )  # balanced but wrong: needs another check
    assert (
        check_change(
            st.values[2025]["revenue"] / st.values[2024]["revenue"] - 1,
            dmg["years_swapped"]["revenue_2025"],
            dmg["years_swapped"]["revenue_2024"],
        ).status
        == "fail"
    )
    rep = lab_report(0, "zh")
    ranges = rep.ranges
    for name, ans in damaged_lab_answers(rep).items():
        assert summary(check_lab_flags(ans, ranges))["fail"] >= 1, name
