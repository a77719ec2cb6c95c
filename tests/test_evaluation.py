"""Per-field scoring: exact, numeric tolerance, ANLS, aggregates; damaged answers score lower."""

from __future__ import annotations

import pytest

from helpers.cases.evaluation import aggregate, anls, levenshtein, normalize_text, parse_number, score_fields


def test_levenshtein_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("合计金额", "合计金") == 1


def test_anls_threshold_and_normalisation():
    assert anls("Green Market", "green  market") == 1.0
    assert anls("Grene Market", "Green Market") == pytest.approx(1 - 2 / 12)
    assert anls("completely different", "Green Market") == 0.0
    assert anls("ＡＢＣ", "ABC") == 1.0  # full-width letters normalise (NFKC)


def test_parse_number_handles_currency_units_and_fullwidth():
    assert parse_number("¥1,234.50") == 1234.5
    assert parse_number("１２.５元") == 12.5
    assert parse_number("-3 %") == -3.0
    assert parse_number("1,2") == 1.0  # not a thousands separator
    assert parse_number(None) is None and parse_number(True) is None


def test_truth_scores_one_and_damage_scores_less():
    truth = {"total": 86.5, "shop": "绿色超市", "date": "2026-03-14", "items": 4}
    assert score_fields(dict(truth), truth).mean == 1.0
    damaged = {"total": 96.5, "shop": "绿色超", "date": "2026-03-41"}
    s = score_fields(damaged, truth)
    assert s.by_field["total"].numeric == 0.0
    assert 0.5 < s.by_field["shop"].anls < 1.0
    assert s.by_field["items"].score == 0.0 and s.missing == ["items"]
    assert 0.0 < s.mean < 1.0


def test_numeric_tolerance_is_relative():
    assert score_fields({"x": "100.9"}, {"x": 100}).mean == 1.0
    assert score_fields({"x": "101.5"}, {"x": 100}).mean == 0.0
    assert score_fields({"x": "101.5"}, {"x": 100}, numeric_tol=0.02).mean == 1.0


def test_keys_match_case_insensitively_and_non_dict_scores_zero():
    assert score_fields({"Total": 5}, {"total": 5}).mean == 1.0
    assert score_fields(None, {"total": 5}).mean == 0.0
    assert normalize_text(3.0) == "3"


def test_aggregate_weights_fields_and_groups():
    a = aggregate(
        [score_fields({"a": 1, "b": 2}, {"a": 1, "b": 2}), score_fields({}, {"a": 1})], ["receipt", "chart"]
    )
    assert (a.documents, a.fields) == (2, 3)
    assert a.mean == pytest.approx(2 / 3)
    assert a.by_group == {"receipt": 1.0, "chart": 0.0}
