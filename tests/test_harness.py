"""The case-study harness: one scoring of model, truth, OCR and damaged answers; the random-weights banner."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from helpers.cases.domain_checks import check_extraction
from helpers.cases.harness import by_source, compare_answers, evaluator_answers, fenced_truth
from helpers.core.banner import random_weights_banner
from helpers.core.model import select_model

TRUTHS = {
    "zh": {"total": 120.5, "shop": "绿叶超市", "cheaper": "first"},
    "en": {"total": 88.0, "shop": "Green Market", "cheaper": "second"},
}


def test_truth_scores_one_and_every_damage_costs():
    cmp = compare_answers(
        TRUTHS, damaged=evaluator_answers(TRUTHS), evaluator={"fenced": fenced_truth(TRUTHS)}
    )
    table = cmp.table().set_index("answers")
    assert table.loc["ground truth", "mean"] == 1.0 and table.loc["fenced", "mean"] == 1.0
    damaged = table[table["kind"] == "damaged"]
    assert len(damaged) == 4 and (damaged["mean"] < 1.0).all()


def test_raw_text_answers_are_parsed_and_bad_json_scores_zero():
    model = {
        "zh": '```json\n{"total": "¥120.50", "shop": "绿叶超市", "cheaper": "first"}\n```',
        "en": "no JSON",
    }
    cmp = compare_answers(TRUTHS, model=model, model_label="m")
    assert cmp.score("m", group="zh") == 1.0 and cmp.score("m", group="en") == 0.0
    assert cmp.score("m") == 0.5


def test_sources_not_run_on_a_document_leave_it_out():
    cmp = compare_answers(TRUTHS, ocr={"zh": TRUTHS["zh"]})
    row = cmp.table().set_index("kind").loc["OCR baseline"]
    assert row["documents"] == 1 and row["mean"] == 1.0 and row["mean · zh"] == 1.0
    assert math.isnan(row["mean · en"])


def test_domain_checks_are_counted_per_source():
    truth = {"s": {"total_assets_2025": 100, "total_liabilities_2025": 60, "total_equity_2025": 40}}
    slip = {"s": dict(truth["s"], total_assets_2025=100_000)}
    cmp = compare_answers(
        truth, damaged={"units": slip}, checks=lambda _doc, a: check_extraction(a, years=(2025,))
    )
    checks = cmp.table().set_index("kind")["checks pass/fail/skip"]
    assert checks["ground truth"].split("/")[1] == "0" and checks["damaged"].split("/")[1] != "0"


def test_unknown_documents_and_sources_are_refused():
    with pytest.raises(KeyError, match="unknown documents"):
        compare_answers(TRUTHS, ocr={"fr": {}})
    with pytest.raises(KeyError, match="no source"):
        compare_answers(TRUTHS).score("nope")


def test_by_source_transposes_and_plot_draws_one_bar_per_source():
    import matplotlib

    matplotlib.use("Agg")
    assert by_source({"zh": {"a": 1}, "en": {"a": 2, "b": 3}}) == {"a": {"zh": 1, "en": 2}, "b": {"en": 3}}
    cmp = compare_answers(TRUTHS, damaged=evaluator_answers(TRUTHS))
    fig = cmp.plot("t", random_weights=True)
    ax = fig.axes[0]
    assert len(ax.patches) == len(cmp.sources) == 5 and "RANDOM" in ax.get_title()


def test_banner_only_for_random_weights():
    tiny = select_model("tiny")
    assert "RANDOM" in random_weights_banner(tiny).data
    assert random_weights_banner(replace(tiny, random_weights=False)) is None
