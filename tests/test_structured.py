"""JSON answers: fences and trailing text tolerated, failures reported in one line, schema problems listed."""

from __future__ import annotations

from helpers.infer.structured import json_prompt, json_schema, parse_json_answer


def test_plain_fenced_and_chatty_answers_parse():
    assert parse_json_answer('{"a": 1}').value == {"a": 1}
    assert parse_json_answer('```json\n{"a": "合计"}\n```').value == {"a": "合计"}
    r = parse_json_answer('Here you go: {"a": 2} Let me know if you need more. {"b": 3}')
    assert r.ok and r.value == {"a": 2}
    assert parse_json_answer('```\n{"a": 1}').value == {"a": 1}  # unclosed fence


def test_failures_say_what_failed():
    cut = parse_json_answer('{"total": 12.5, "shop": "Gre')
    assert not cut.ok and "stops early" in cut.error
    assert "no JSON object" in parse_json_answer("The total is 12.5").error
    assert "expected an object" in parse_json_answer("[1, 2, 3]").error
    assert "empty answer" in parse_json_answer("   ").error
    assert "\n" not in cut.error


def test_schema_problems_are_listed():
    r = parse_json_answer(
        '{"total": "12.5", "flag": true}',
        required=["total", "shop"],
        types={"total": "number", "flag": "integer"},
    )
    assert r.ok
    assert "missing key 'shop'" in r.problems
    assert any("'total' should be number" in p for p in r.problems)
    assert any("'flag' should be integer" in p for p in r.problems)


def test_prompt_and_schema_name_every_field():
    fields = {"total": "合计金额是多少？", "shop": "Which shop?"}
    prompt = json_prompt(fields, {"total": "number"})
    assert '"total" (number): 合计金额是多少？' in prompt and '"shop" (string)' in prompt
    schema = json_schema(fields, {"total": "number"})
    assert schema["required"] == ["total", "shop"]
    assert schema["properties"]["shop"]["type"] == "string"
