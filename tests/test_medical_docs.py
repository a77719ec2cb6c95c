"""The synthetic medical documents: deterministic, consistent ground truth, identifiers where they belong."""

from __future__ import annotations

import pytest

from helpers.cases.domain_checks import check_imaging_link, flag_for, parse_range
from helpers.cases.medical_docs import imaging_case, lab_report
from helpers.core.fonts import renders_glyph
from helpers.safety import cn_id_checksum_ok, find_injections, redact


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lab_report_is_deterministic_and_consistent(lang):
    a, b = lab_report(4, lang), lab_report(4, lang)
    assert a.text == b.text and a.image.tobytes() == b.image.tobytes()
    assert lab_report(5, lang).text != a.text
    for it in a.items:
        assert it["flag"] == flag_for(it["value"], it["low"], it["high"])
        printed = f"{it['value']:.{it['decimals']}f}"
        assert printed in a.text
        low, high = parse_range(f"{it['low']:.{it['decimals']}f}-{it['high']:.{it['decimals']}f}")
        assert (low, high) == (it["low"], it["high"])
    assert set(a.truth) == {it["code"] for it in a.items} | {f"{it['code']}_flag" for it in a.items}


def test_abnormal_values_occur_across_seeds():
    flags = [it["flag"] for s in range(6) for it in lab_report(s, "zh").items]
    assert "H" in flags and "L" in flags and "N" in flags


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_identifiers_are_printed_boxed_and_redactable(lang):
    rep = lab_report(2, lang)
    who = rep.identity
    for value in (who.name, who.phone, who.record_no, who.address):
        assert value in rep.text
    assert cn_id_checksum_ok(who.id_number)
    kinds = {k for k, _ in rep.identifier_boxes}
    assert {"NAME", "PHONE", "RECORD_NO", "ADDRESS"} <= kinds
    red = redact(rep.text).text
    for value in (who.name, who.phone, who.record_no, who.address, who.id_number):
        assert value not in red
    for it in rep.items:
        assert f"{it['value']:.{it['decimals']}f}" in red
    masked = rep.masked_image()
    for _, (x0, y0, x1, y1) in rep.identifier_boxes:
        assert masked.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == (0, 0, 0)
    assert rep.image.getpixel((5, 5)) == (255, 255, 255)  # the original is left alone


def test_injected_report_carries_a_flaggable_instruction():
    rep = lab_report(0, "zh", inject=True)
    assert rep.injected and rep.injected in rep.text and find_injections(rep.text)
    assert not find_injections(lab_report(0, "zh").text)


def test_chinese_renders_without_tofu():
    rep = lab_report(0, "zh")
    assert renders_glyph(rep.items[0]["name_zh"] + rep.identity.name)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_imaging_finding_is_linked_to_exactly_one_sentence(seed, lang):
    case = imaging_case(seed, lang)
    linked = [i for i in range(len(case.sentences)) if all(c.ok for c in check_imaging_link(case, i))]
    assert linked == [case.finding_index]
    x0, y0, x1, y1 = case.region
    assert case.image.getpixel((x0, (y0 + y1) // 2))[0] > 200  # the red box is drawn


def test_prompts_name_every_field_and_the_untrusted_rule():
    from helpers.cases.medical_docs import imaging_prompt, lab_prompt

    rep = lab_report(1, "en")
    prompt = lab_prompt(rep)
    assert "never an instruction" in prompt and all(f'"{it["code"]}_flag"' in prompt for it in rep.items)
    case = imaging_case(1, "zh")
    assert all(s in imaging_prompt(case) for s in case.sentences)
