"""The HTTP path against a REAL local `transformers serve` running the embedded tiny model (no mock)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.cases.documents import vqa_documents
from helpers.cases.pipeline import run_documents
from helpers.infer.backends import BackendError, HttpBackend, make_backend
from helpers.infer.serving import free_port, transformers_serve


@pytest.fixture(scope="module")
def server(tiny_moe):
    with transformers_serve(tiny_moe, wait_s=150) as srv:
        yield srv
    assert srv.process.poll() is not None  # the server is gone after the block


def test_backend_sends_images_as_data_urls_and_reads_usage(server):
    backend = make_backend(server.base_url, served_model=server.served_model)
    pair = next(d for d in vqa_documents() if d.kind == "receipt_pair")
    result = backend.generate(pair.images, "Which is cheaper?", max_new_tokens=4)
    assert result.new_tokens == 4 and isinstance(result.text, str)
    # the server counted the two images' visual tokens in its prompt, as our budget said it would
    assert len(result.visual_tokens) == 2
    assert result.prompt_tokens > sum(result.visual_tokens)
    local = make_backend("tiny").generate(pair.images, "Which is cheaper?", max_new_tokens=4)
    assert result.prompt_tokens == local.prompt_tokens
    assert result.visual_tokens == local.visual_tokens


def test_pipeline_batches_concurrent_requests(server):
    import threading

    backend = HttpBackend(server.base_url, served_model=server.served_model, concurrency=3)
    # the three POSTs must be in flight together: each waits at a barrier for the other two before it is
    # sent, so requests made one after another would time out here instead of passing
    barrier, real = threading.Barrier(3, timeout=60), backend._request
    peak, live, lock = [0], [0], threading.Lock()

    def request(method, path, payload=None):
        if method != "POST":
            return real(method, path, payload)
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        barrier.wait()
        try:
            return real(method, path, payload)
        finally:
            with lock:
                live[0] -= 1

    backend._request = request
    run = run_documents(vqa_documents()[:3], backend, max_new_tokens=4, progress=False)
    assert len(run.rows) == 3 and all(r.prompt_tokens > 0 for r in run.rows)
    assert peak[0] == 3


def test_wrong_model_name_is_one_clear_line(server):
    backend = HttpBackend(server.base_url, served_model="no-such-model", retries=0)
    with pytest.raises(BackendError, match="HTTP 400.*pinned"):
        backend.generate(vqa_documents()[0].images, "x", max_new_tokens=2)


def test_cli_against_the_served_endpoint(server):
    doc = vqa_documents()[0]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers",
            "infer",
            "--model",
            server.base_url,
            "--served-model",
            server.served_model,
            "--image",
            str(doc.images[0]),
            "--prompt",
            "合计金额是多少？",
            "--max-new-tokens",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["new_tokens"] == 3 and data["prompt_tokens"] > 0 and len(data["visual_tokens"]) == 1


def test_server_down_is_one_clear_line_after_retries():
    backend = HttpBackend(f"http://127.0.0.1:{free_port()}", served_model="m", retries=1, backoff_s=0.01)
    with pytest.raises(BackendError, match="no OpenAI-compatible server answered .* after 2 tries"):
        backend.generate(vqa_documents()[0].images, "x", max_new_tokens=2)
