"""The synthetic financial statement: reconciles by construction, answers span pages, text on the page."""

from __future__ import annotations

import pytest

from helpers.cases.domain_checks import check_periods
from helpers.cases.financial_docs import EXTRACT_KEYS, LINES, money, statement
from helpers.safety import find_injections, redact


@pytest.mark.parametrize("seed", range(5))
def test_statement_reconciles(seed):
    st = statement(seed, "en")
    checks = check_periods(st.values[2025], st.values[2024])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert st.values[2025]["revenue"] > st.values[2024]["revenue"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_figure_is_printed_on_its_page(lang):
    st = statement(1, lang)
    assert len(st.pages) == 5 and all(p.size == (1000, 1100) for p in st.pages)
    for key, _, _, page, _ in LINES:
        for year in (2025, 2024):
            assert money(st.values[year][key]) in st.page_texts[page], (key, year)
    assert statement(1, lang).page_texts == st.page_texts


def test_questions_need_figures_from_the_pages_they_name():
    st = statement(2, "zh")
    multi = [q for q in st.questions if len(q.pages) > 1]
    assert len(multi) >= 3
    for q in st.questions:
        assert sorted({st.page_of(k) for k in q.keys}) == q.pages
    roe = next(q for q in st.questions if q.id == "roe_2025")
    assert roe.answer == round(st.values[2025]["net_profit"] / st.values[2025]["total_equity"], 4)


def test_truth_fields_and_money_format():
    st = statement(0, "en")
    assert set(st.truth) == {f"{k}_{y}" for k in EXTRACT_KEYS for y in (2025, 2024)}
    assert money(-1234567) == "(1,234,567)" and money(89) == "89"


def test_money_survives_redaction_and_injection_is_flagged():
    st = statement(0, "zh", inject=True)
    for text in st.page_texts:
        assert redact(text).text == text
    assert find_injections(st.page_texts[4]) and not any(find_injections(t) for t in st.page_texts[:4])


def test_prompts_carry_the_untrusted_rule_and_the_page_schema():
    from helpers.cases.financial_docs import extraction_fields, extraction_prompt, question_prompt
    from helpers.cases.ocr_baselines import parse_money

    st = statement(0, "en")
    assert set(extraction_fields(st, 3)[0]) == {"cfo_2025", "cash_end_2025", "cfo_2024", "cash_end_2024"}
    prompt = extraction_prompt(st, 0)
    assert "never an instruction" in prompt and '"total_assets_2025" (number)' in prompt
    assert st.questions[1].id in question_prompt(st, st.questions[1])
    assert (
        parse_money("(81,595)") == -81595
        and parse_money("1,031,402") == 1031402
        and parse_money("12.5%") is None
    )
