"""Input preparation: budgets equal the processor, claim j against the real Qwen tokenizer, splitting."""

from __future__ import annotations

import pytest
from PIL import Image

from helpers.core.chat import prepare_inputs, visual_tokens_of
from helpers.core.fixtures import build_processor
from helpers.infer.inputs import (
    BudgetError,
    enumeration_comma_check,
    fit_to_budget,
    normalize_punctuation,
    request_budget,
    split_to_budget,
)


@pytest.fixture(scope="module")
def processor():
    return build_processor()


def test_claim_j_qwen_keeps_the_enumeration_comma(processor):
    """Claim j: "some tokenizers read 、 as an English comma, so normalise first". Not Qwen's."""
    check = enumeration_comma_check(processor.tokenizer)
    assert check["same_as_ascii_comma"] is False
    assert check["round_trips"] is True
    ids = check["ids_alone"]
    assert len({tuple(ids["、"]), tuple(ids[","]), tuple(ids["，"])}) == 3
    # the real trap is the other way round: NFKC turns the Chinese comma into an ASCII one
    assert check["nfkc_changes_chinese_comma"] and check["nfkc_keeps_enumeration_comma"]


def test_normalisation_keeps_chinese_punctuation():
    assert normalize_punctuation("苹果、香蕉，牛奶。（Ｑ３）") == "苹果、香蕉，牛奶。（Q3）"
    assert normalize_punctuation("１２３\u3000ＡＢ") == "123 AB"


@pytest.mark.parametrize(
    ("sizes", "budget"),
    [
        ([(640, 480)], {}),
        ([(480, 446), (480, 514)], {}),
        ([(2000, 1500)], {"max_pixels": 512 * 512}),
        ([(100, 60)], {"min_pixels": 128 * 128}),
    ],
)
def test_budget_before_inference_equals_the_processor(processor, sizes, budget):
    prompt = "合计金额是多少？ Answer in JSON."
    plan = request_budget(processor.tokenizer, sizes, prompt, **budget)
    inputs = prepare_inputs(processor, [Image.new("RGB", s) for s in sizes], prompt, **budget)
    assert plan.prompt_tokens == inputs["input_ids"].shape[1]
    assert plan.visual_tokens == visual_tokens_of(inputs, processor.image_processor.merge_size)


def test_budget_memory_and_refusal(processor):
    plan = request_budget(processor.tokenizer, [(2480, 3508)], "x", config="tiny", device="cpu")
    bigger = request_budget(processor.tokenizer, [(2480, 3508)] * 2, "x", config="tiny", device="cpu")
    assert plan.memory is not None and bigger.memory.kv_cache_bytes > plan.memory.kv_cache_bytes
    with pytest.raises(BudgetError, match="lower max_pixels"):
        request_budget(processor.tokenizer, [(2480, 3508)], "x", max_tokens=2000)


def test_fit_to_budget_matches_processor_grid(processor):
    img = Image.new("RGB", (1234, 987))
    small = fit_to_budget(img, max_pixels=300 * 300)
    inputs = prepare_inputs(processor, [img], "x", max_pixels=300 * 300)
    t, h, w = (int(v) for v in inputs["image_grid_thw"][0])
    assert (small.width, small.height) == (w * 16, h * 16)


def test_split_to_budget_fits_and_round_trips(processor):
    tok = processor.tokenizer
    text = (
        "第一季度收入增长了百分之十二。" * 5 + "A very long English sentence without any stop " * 8 + "结束。"
    )
    chunks = split_to_budget(text, tok, 20)
    assert "".join(chunks) == text
    assert all(len(tok.encode(c, add_special_tokens=False)) <= 20 for c in chunks)
    assert len(chunks) > 3
    with pytest.raises(BudgetError):
        split_to_budget(text, tok, 0)
