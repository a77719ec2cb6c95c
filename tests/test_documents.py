"""The synthetic VQA set: deterministic, bilingual, multi-image questions, answers that match the data."""

from __future__ import annotations

import hashlib
import io
import json

from helpers.cases.docset import Document, load_documents, write_document_set
from helpers.cases.documents import build_vqa_set, generate_vqa, vqa_documents
from helpers.cases.evaluation import is_numeric_truth


def _digest(images) -> str:
    h = hashlib.sha256()
    for img in images:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        h.update(buf.getvalue())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs():
    a = [_digest(imgs) + json.dumps(d.truth, ensure_ascii=False) for d, imgs in generate_vqa(7)]
    b = [_digest(imgs) + json.dumps(d.truth, ensure_ascii=False) for d, imgs in generate_vqa(7)]
    c = [_digest(imgs) + json.dumps(d.truth, ensure_ascii=False) for d, imgs in generate_vqa(8)]
    assert a == b and a != c


def test_set_covers_kinds_languages_and_two_image_questions():
    docs = vqa_documents()
    assert {d.kind for d in docs} == {"receipt", "table", "chart", "form", "receipt_pair"}
    langs = [lang for d in docs for lang in d.langs.values()]
    assert langs.count("zh") >= 10 and langs.count("en") >= 10
    pairs = [d for d in docs if len(d.images) == 2]
    assert len(pairs) >= 2
    for d in docs:
        assert set(d.questions) == set(d.truth) == set(d.types) == set(d.ocr_rules)
        for name, value in d.truth.items():
            assert (d.types[name] == "number") == is_numeric_truth(value)
        assert all(p.is_file() for p in d.images)
        # ground truth never leaks into the OCR rules
        assert all(
            str(v) not in json.dumps(d.ocr_rules, ensure_ascii=False)
            for v in d.truth.values()
            if isinstance(v, str) and len(v) > 3
        )


def test_pair_answers_follow_from_both_receipts(monkeypatch):
    """The answers are computed from the two receipts actually drawn (recorded as they are made), including
    the case where equal unit prices force the second receipt to change and its total to be recomputed."""
    import random

    from helpers.cases import documents as D

    drawn = []
    real = D._receipt_data

    def spy(rng, shop, good):
        data = real(rng, shop, good)
        drawn.append((data, good, next(i["unit"] for i in data["items"] if i["name"] == good)))
        return data

    monkeypatch.setattr(D, "_receipt_data", spy)
    cheaper, ties = set(), 0
    for seed in range(60):  # seed 46 draws equal unit prices (checked by `ties` below)
        drawn.clear()
        doc, images = D._receipt_pair(random.Random(seed), seed)
        (a, good, drawn_a), (b, _, drawn_b) = drawn
        ties += drawn_a == drawn_b
        unit_a = next(i["unit"] for i in a["items"] if i["name"] == good)
        unit_b = next(i["unit"] for i in b["items"] if i["name"] == good)
        assert unit_a != unit_b and len(images) == 2
        assert doc.truth["cheaper"] == ("first" if unit_a < unit_b else "second")
        for r in (a, b):  # the printed total is the sum of the printed amounts
            assert r["total"] == round(sum(i["amount"] for i in r["items"]), 2)
        assert doc.truth["total_diff"] == round(abs(a["total"] - b["total"]), 2)
        cheaper.add(doc.truth["cheaper"])
    assert cheaper == {"first", "second"}
    assert ties >= 1  # the equal-price branch (second receipt changed, its total recomputed) was exercised


def test_reuse_and_round_trip(tmp_path):
    folder = build_vqa_set()
    stamp = (folder / "ground_truth.json").stat().st_mtime_ns
    assert build_vqa_set() == folder and (folder / "ground_truth.json").stat().st_mtime_ns == stamp
    from PIL import Image

    doc = Document("x", "note", [], {"q": "问题?"}, {"q": 3}, {"q": "number"}, {"q": "zh"})
    out = write_document_set(tmp_path / "s", [(doc, [Image.new("RGB", (40, 30))])], {"name": "s"})
    loaded = load_documents(out)
    assert loaded[0].truth == {"q": 3} and loaded[0].images[0].name == "x_0.png"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_missing_folder_is_one_clear_line(tmp_path):
    import pytest

    from helpers.cases.docset import DocumentSetError

    with pytest.raises(DocumentSetError, match="no ground_truth.json"):
        load_documents(tmp_path)
