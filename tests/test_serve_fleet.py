"""The fleet client: the results journal, retries and failures (stub server), one endpoint down, and a REAL
`transformers serve` killed mid-batch and restarted (every document exactly once), plus served-vs-local
parity."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from helpers.cases.documents import vqa_documents
from helpers.infer.backends import HttpBackend, LocalBackend
from helpers.infer.serving import free_port, transformers_serve
from helpers.serve.fleet import requests_for, results, run_fleet, score_results
from helpers.serve.journal import JournalError, open_journal
from helpers.serve.parity import parity_report
from helpers.serve.stub import stub_server

DOCS = vqa_documents()[:6]


def _ids(path):
    return [json.loads(line)["doc_id"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_journal_cuts_a_half_written_last_line_and_refuses_a_bad_middle(tmp_path):
    path = tmp_path / "r.jsonl"
    j = open_journal(path)
    j.append({"doc_id": "a", "ok": True})
    with pytest.raises(JournalError, match="not writing it twice"):
        j.append({"doc_id": "a", "ok": True})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"doc_id": "b", "ok": tr')  # a kill in the middle of a write
    again = open_journal(path)
    assert again.repaired and again.done == {"a"} and path.read_text().endswith("}\n")
    path.write_text('{"doc_id": "a"}\nnot json\n{"doc_id": "c"}\n')
    with pytest.raises(JournalError, match="line 2"):
        open_journal(path)


def test_500s_are_retried_then_recorded_with_reasons_never_dropped(tmp_path):
    out = tmp_path / "r.jsonl"
    with stub_server(fail_first=2) as stub:  # two 500s, then answers: retried within limits
        run = run_fleet(
            requests_for(DOCS[:2]),
            [stub.url],
            "stub-model",
            out,
            concurrency=1,
            retries=3,
            backoff_s=0.01,
            progress=False,
        )
    assert (run.answered, run.failed) == (2, 0) and run.endpoints[0].errors == {"http_5xx": 2}
    out2 = tmp_path / "r2.jsonl"
    with stub_server(fail_every=1) as stub:  # always 500: gives up after 1 + retries tries, with the reason
        run = run_fleet(
            requests_for(DOCS[:3]), [stub.url], "stub-model", out2, retries=2, backoff_s=0.01, progress=False
        )
        assert stub.state.requests == 3 * 3
    recs = results(out2)
    assert run.failed == 3 and len(recs) == 3 and all(not r["ok"] and "http_5xx" in r["reason"] for r in recs)
    assert all(r["attempts"] == 3 for r in recs)


def test_4xx_is_final_but_429_is_retried(tmp_path):
    with stub_server(fail_every=1, status=400) as stub:
        run = run_fleet(
            requests_for(DOCS[:2]),
            [stub.url],
            "stub-model",
            tmp_path / "a.jsonl",
            retries=3,
            backoff_s=0.01,
            progress=False,
        )
        assert stub.state.requests == 2 and run.failed == 2
    with stub_server(fail_first=2, status=429) as stub:
        run = run_fleet(
            requests_for(DOCS[:2]),
            [stub.url],
            "stub-model",
            tmp_path / "b.jsonl",
            concurrency=1,
            retries=3,
            backoff_s=0.01,
            progress=False,
        )
        assert run.answered == 2 and run.endpoints[0].errors == {"http_429": 2}


def test_slow_endpoint_times_out_then_is_recorded(tmp_path):
    with stub_server(delay_s=1.5) as stub:
        start = time.monotonic()
        run = run_fleet(
            requests_for(DOCS[:2]),
            [stub.url],
            "stub-model",
            tmp_path / "r.jsonl",
            timeout_s=0.3,
            retries=1,
            backoff_s=0.01,
            progress=False,
        )
        assert time.monotonic() - start < 15
    recs = results(tmp_path / "r.jsonl")
    assert run.failed == 2 and all("timeout" in r["reason"] or "timed out" in r["reason"] for r in recs)


def test_one_endpoint_down_everything_goes_to_the_other(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    with stub_server() as stub:
        run = run_fleet(
            requests_for(DOCS),
            [down, stub.url],
            "stub-model",
            tmp_path / "r.jsonl",
            concurrency=3,
            retries=3,
            backoff_s=0.05,
            progress=False,
        )
    table = run.summary()
    assert run.answered == len(DOCS) and run.failed == 0
    assert table.set_index("endpoint").loc[stub.url, "answered"] == len(DOCS)
    assert table.set_index("endpoint").loc[down, "answered"] == 0
    assert any(down in note and "answered nothing" in note for note in run.notes)
    assert sorted(_ids(tmp_path / "r.jsonl")) == sorted(d.id for d in DOCS)


def test_real_server_killed_mid_batch_then_restarted_every_document_exactly_once(tiny_moe, tmp_path):
    out, port = tmp_path / "results.jsonl", free_port()
    reqs = requests_for(DOCS)
    with transformers_serve(tiny_moe, port=port, wait_s=150) as srv:
        worker = threading.Thread(
            target=run_fleet,
            args=(reqs[:5], [srv.base_url], srv.served_model, out),
            kwargs=dict(
                concurrency=1, retries=1, backoff_s=0.2, timeout_s=60, max_new_tokens=4, progress=False
            ),
        )
        worker.start()
        deadline = time.monotonic() + 120
        while (not out.exists() or len(out.read_text().splitlines()) < 2) and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(srv.process.pid, signal.SIGKILL)  # the server dies in the middle of the batch
        worker.join(timeout=120)
    first = results(out)
    assert len(first) == 5 and 2 <= sum(r["ok"] for r in first) < 5 and any(not r["ok"] for r in first)
    missing = reqs[5]
    with open(out, "a", encoding="utf-8") as f:  # and the client was killed half-way through a line
        f.write(json.dumps({"doc_id": missing.doc_id, "ok": True, "text": "x"})[:25])
    with transformers_serve(tiny_moe, port=port, wait_s=150) as srv:
        run = run_fleet(
            reqs,
            [srv.base_url],
            srv.served_model,
            out,
            concurrency=2,
            retries=2,
            backoff_s=0.2,
            max_new_tokens=4,
            progress=False,
            retry_failed=True,
        )
    assert run.repaired_last_line and run.failed == 0
    ids = _ids(out)
    assert sorted(ids) == sorted(d.id for d in DOCS)  # every document exactly once
    assert all(r["ok"] for r in results(out))
    assert score_results(DOCS, out).aggregate.mean >= 0.0  # the evaluation reads the file (random model)


def test_served_greedy_answers_are_token_identical_to_local(tiny_moe):
    reqs = [(r.images, r.prompt) for r in requests_for(DOCS[:3])]
    with transformers_serve(tiny_moe, wait_s=150) as srv:
        served = HttpBackend(srv.base_url, served_model=srv.served_model)
        report = parity_report(
            LocalBackend(str(tiny_moe), batch_size=1), served, reqs, max_new_tokens=8, documents=DOCS[:3]
        )
    assert report.exact_match_rate == 1.0
    assert all(
        r["first_diff_token"] is None and r["local_tokens"] == r["served_tokens"] == 8 for r in report.rows
    )
    assert all(r["local_prompt_tokens"] == r["served_prompt_tokens"] for r in report.rows)
    assert report.score_difference == 0.0
