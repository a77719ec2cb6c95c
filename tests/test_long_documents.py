"""Budgeted splitting of long documents: token counts from the processor rule, memory from the estimator."""

from __future__ import annotations

import pytest

from helpers.cases.long_documents import (
    MIN_PAGE_PIXELS,
    Budget,
    BudgetError,
    combine_answers,
    compare_strategies,
    fit_max_pixels,
    plan_all_pages,
    plan_needed_pages,
    plan_page_by_page,
    request_cost,
)
from helpers.core.configs import real_config_path
from helpers.estimate.memory import estimate_peak_memory
from helpers.estimate.vision_tokens import visual_tokens

CFG = real_config_path("Qwen/Qwen3-VL-30B-A3B-Instruct")
SIZES = [(1000, 1100)] * 4 + [(1240, 1754)]


def test_request_cost_matches_the_estimator():
    budget = Budget(text_tokens=800)
    req = request_cost(CFG, SIZES, [0, 4], budget)
    est = estimate_peak_memory(CFG, context_tokens=800, images=[SIZES[0], SIZES[4]])
    assert req.visual_tokens == [visual_tokens(*SIZES[0]), visual_tokens(*SIZES[4])] == est.visual_tokens
    assert req.peak_bytes == est.peak_bytes


def test_strategies_trade_tokens_for_requests():
    budget = Budget(max_visual_tokens=3000)
    plans = {p.strategy: p for p in compare_strategies(CFG, SIZES, [1, 2], budget)}
    assert not plans["all_pages"].fits
    assert plans["needed_pages"].fits and plans["needed_pages"].requests[0].pages == [1, 2]
    assert plans["page_by_page"].total_visual_tokens == plans["all_pages"].total_visual_tokens
    assert plans["needed_pages"].peak_bytes < plans["all_pages"].peak_bytes
    assert plans["page_by_page"].peak_bytes < plans["all_pages"].peak_bytes
    assert len(plans["page_by_page"].requests) == len(SIZES)
    down = plans["all_downscaled"].requests[0]
    assert down.total_visual_tokens <= 3000 and down.max_pixels is not None


def test_fit_is_the_largest_that_fits():
    budget = Budget(max_visual_tokens=2000)
    pages = [0, 1, 2, 3, 4]
    mp = fit_max_pixels(CFG, SIZES, pages, budget)
    assert request_cost(CFG, SIZES, pages, budget, mp).fits
    assert not request_cost(CFG, SIZES, pages, budget, mp + 32 * 32 * 8).fits


def test_memory_budget_binds_too():
    tight = Budget(max_peak_bytes=plan_page_by_page(CFG, SIZES, Budget()).peak_bytes + 2**20)
    assert not plan_all_pages(CFG, SIZES, tight).fits
    assert plan_page_by_page(CFG, SIZES[:4], tight).fits


def test_impossible_budget_and_bad_pages_say_what_to_change():
    with pytest.raises(BudgetError, match="page by page"):
        fit_max_pixels(CFG, SIZES, [0, 1, 2, 3, 4], Budget(max_visual_tokens=100))
    assert 5 * visual_tokens(1000, 1100, max_pixels=MIN_PAGE_PIXELS) > 100
    with pytest.raises(BudgetError, match="count from 0"):
        plan_needed_pages(CFG, SIZES, [7], Budget())


def test_combine_answers_first_wins_and_conflicts_are_kept():
    c = combine_answers(
        [
            {"revenue_2025": None},
            {"revenue_2025": "1,200", "cash_end_2025": 5},
            None,
            {"revenue_2025": 1200.0, "cash_end_2025": 6},
        ]
    )
    assert c.value == {"revenue_2025": "1,200", "cash_end_2025": 5}
    assert c.source == {"revenue_2025": 1, "cash_end_2025": 1}
    assert set(c.conflicts) == {"revenue_2025", "cash_end_2025"}
