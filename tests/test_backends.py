"""Local backend: batching gives the same answers as one-by-one; dispatch; data URLs round-trip."""

from __future__ import annotations

import base64
import io

from PIL import Image

from helpers.cases.documents import vqa_documents
from helpers.infer.backends import HttpBackend, LocalBackend, image_data_url, make_backend, openai_messages


def test_make_backend_dispatches_on_the_setting():
    assert isinstance(make_backend("tiny"), LocalBackend)
    http = make_backend("http://127.0.0.1:9/v1/", served_model="m")
    assert isinstance(http, HttpBackend) and http.base_url == "http://127.0.0.1:9/v1"
    assert make_backend("tiny").random_weights and "RANDOM" in make_backend("tiny").label


def test_data_url_round_trips_pixels():
    img = Image.new("RGB", (7, 5), (10, 200, 30))
    url = image_data_url(img)
    back = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert back.size == (7, 5) and back.getpixel((3, 3)) == (10, 200, 30)
    parts = openai_messages([img, img], "比较")[0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]


def test_batch_equals_one_by_one_and_counts_tokens_per_request():
    docs = vqa_documents()
    requests = [
        (docs[0].images, "合计？"),
        (next(d for d in docs if d.kind == "receipt_pair").images, "Compare."),
    ]
    backend = make_backend("tiny", batch_size=2)
    batched = backend.generate_batch(requests, max_new_tokens=4)
    single = [backend.generate(imgs, p, max_new_tokens=4) for imgs, p in requests]
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in single]
    assert [r.visual_tokens for r in batched] == [r.visual_tokens for r in single]
    assert len(batched[1].visual_tokens) == 2


def test_pixel_budget_reaches_the_processor():
    doc = vqa_documents()[0]
    backend = make_backend("tiny")
    full = backend.generate(doc.images, "x", max_new_tokens=1)
    small = backend.generate(doc.images, "x", max_new_tokens=1, max_pixels=128 * 128)
    assert small.visual_tokens[0] < full.visual_tokens[0]
    assert full.prompt_tokens - small.prompt_tokens == full.visual_tokens[0] - small.visual_tokens[0]
