"""Generation settings: recommendations per variant, applied by both backends; repetition guard; <think>."""

from __future__ import annotations

import json

import pytest
import torch

from helpers.infer.sampling import (
    GREEDY,
    INSTRUCT,
    THINKING,
    find_loop,
    generate_kwargs,
    guard_repetition,
    openai_params,
    presence_processor,
    recommended,
    repetition_stopper,
    strip_reasoning,
)


def test_recommended_per_variant_with_source():
    assert recommended("Qwen/Qwen3-VL-30B-A3B-Instruct") is INSTRUCT
    assert recommended("Qwen/Qwen3-VL-30B-A3B-Thinking") is THINKING
    assert (INSTRUCT.temperature, INSTRUCT.top_p, INSTRUCT.top_k, INSTRUCT.presence_penalty) == (
        0.7,
        0.8,
        20,
        1.5,
    )
    assert (THINKING.temperature, THINKING.top_p, THINKING.top_k, THINKING.presence_penalty) == (
        1.0,
        0.95,
        20,
        0.0,
    )
    assert "presence_penalty=1.5" in INSTRUCT.source and "top_p=0.95" in THINKING.source
    assert GREEDY.do_sample is False and generate_kwargs(GREEDY) == {"do_sample": False}
    assert openai_params(GREEDY) == {"temperature": 0.0}
    assert openai_params(INSTRUCT)["presence_penalty"] == 1.5


def test_presence_processor_penalises_generated_tokens_only():
    proc = presence_processor(1.5, prompt_len=2)
    ids = torch.tensor([[5, 6, 7, 7]])
    scores = torch.zeros(1, 10)
    out = proc(ids, scores)
    assert out[0, 7].item() == -1.5 and out[0, 5].item() == 0.0 and out[0, 6].item() == 0.0


def test_repetition_stopper_and_guard():
    stop = repetition_stopper(prompt_len=1, min_repeats=4, max_period=3)
    assert stop(torch.tensor([[9, 1, 2, 1, 2, 1, 2, 1, 2]]), None).tolist() == [True]
    assert stop(torch.tensor([[9, 1, 2, 3, 4, 5, 6, 7, 8]]), None).tolist() == [False]
    assert guard_repetition("The answer is 12.")[1] is False
    text, looped = guard_repetition('{"total": 12} ' + "and so on " * 10)
    assert looped and text.count("and so on") == 1
    assert find_loop("合计：12元。" + "重复" * 8)["unit"] == "重复"


def test_strip_reasoning_then_json_parses():
    raw = '<think>Row 3 says 12.\nSo the total is 12.</think>\n\n{"total": 12}'
    answer, reasoning = strip_reasoning(raw)
    assert json.loads(answer) == {"total": 12} and "Row 3" in reasoning
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert strip_reasoning('opened in the prompt</think>{"a": 1}') == ('{"a": 1}', "opened in the prompt")
    assert strip_reasoning('{"a": 1}') == ('{"a": 1}', "")


def test_http_backend_sends_settings(monkeypatch):
    from PIL import Image

    from helpers.infer.backends import HttpBackend

    sent = []

    def fake(self, method, path, payload=None):
        sent.append(payload)
        return {"choices": [{"message": {"content": "x " * 20}}], "usage": {}}

    monkeypatch.setattr(HttpBackend, "_request", fake)
    backend = HttpBackend("http://127.0.0.1:9", served_model="m")
    img = Image.new("RGB", (64, 64))
    plain = backend.generate([img], "q", max_new_tokens=8)
    assert sent[-1]["temperature"] == 0.0 and "top_p" not in sent[-1] and plain.flags == []
    guarded = backend.generate([img], "q", max_new_tokens=8, sampling=INSTRUCT)
    assert sent[-1]["top_p"] == 0.8 and sent[-1]["presence_penalty"] == 1.5 and sent[-1]["top_k"] == 20
    assert guarded.flags == ["repetition"] and guarded.text == "x "


def test_local_backend_samples_with_settings():
    from PIL import Image

    from helpers.infer.backends import LocalBackend

    backend = LocalBackend("tiny")
    img = Image.new("RGB", (64, 64), "white")
    a = backend.generate([img], "q", max_new_tokens=6)
    b = backend.generate([img], "q", max_new_tokens=6)
    assert a.text == b.text  # greedy: reproducible (random-weight fixture, not a model answer)
    torch.manual_seed(0)
    s = backend.generate([img], "q", max_new_tokens=6, sampling=THINKING)
    assert s.new_tokens >= 1 and isinstance(s.flags, list)
