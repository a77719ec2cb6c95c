"""The OCR baseline runs offline from the wheel's models and answers with rules, scored by the same
evaluator."""

from __future__ import annotations

import socket

import pytest

from helpers.cases.documents import vqa_documents
from helpers.cases.evaluation import score_fields
from helpers.cases.ocr import _engine, answer_with_rules, model_files, ocr_lines, ocr_text


def test_models_ship_in_the_wheel():
    names = [p.name for p in model_files()]
    assert any("det" in n for n in names) and any("rec" in n for n in names)
    assert all(p.stat().st_size > 1_000_000 for p in model_files() if "det" in p.name or "rec" in p.name)


def test_first_use_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    _engine.cache_clear()
    doc = next(d for d in vqa_documents() if d.kind == "form")
    text = "\n".join(ln.text for ln in ocr_lines(doc.images[0], use_cache=False))
    assert ocr_text(doc.images[0]).splitlines() == text.splitlines()
    assert doc.truth["phone"] in text and doc.truth["name"] in text


def test_rules_answer_a_receipt_and_a_pair():
    docs = vqa_documents()
    receipt = next(d for d in docs if d.kind == "receipt")
    assert score_fields(answer_with_rules(receipt), receipt.truth).mean == pytest.approx(1.0)
    pair = next(d for d in docs if d.kind == "receipt_pair")
    assert score_fields(answer_with_rules(pair), pair.truth).mean == pytest.approx(1.0)


def test_small_print_is_lost_when_the_image_is_shrunk():
    doc = next(d for d in vqa_documents() if d.kind == "receipt")
    image = doc.open_images()[0]
    small = image.resize((image.width // 3, image.height // 3))
    answers = answer_with_rules(doc, images=[small])
    assert score_fields(answers, doc.truth).by_field["invoice_code"].score < 1.0
