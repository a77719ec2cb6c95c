"""Send a document set to one or more OpenAI-compatible endpoints (vLLM, SGLang, `transformers serve`)
without losing or repeating a document.

- bounded concurrency (`concurrency` requests in flight over all endpoints), per-request timeout;
- retries with exponential backoff on 429, 5xx, timeouts and refused connections; any other 4xx is final;
- least-loaded dispatch: each attempt goes to the healthy endpoint with the fewest requests in flight;
  an endpoint that refuses a connection rests for a while and the attempt moves to another;
- every result (answer or failure with its reason) is appended to a JSONL file and fsync'd as it arrives
  (helpers.serve.journal), so a rerun skips what is done and never writes a document twice;
- a progress bar (tqdm) and, at the end, latency percentiles, tokens/s and errors per endpoint.

Requests go through the workbook's HTTP backend (helpers.infer.backends.HttpBackend, one try per call:
the retry policy lives here), and the answers are scored with the case-study evaluation.

Example:
    >>> from helpers.cases.documents import vqa_documents
    >>> reqs = requests_for(vqa_documents()[:2])
    >>> [r.doc_id for r in reqs] == [d.id for d in vqa_documents()[:2]]
    True
"""

from __future__ import annotations

import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.infer.backends import BackendError, HttpBackend
from helpers.serve.journal import open_journal

_CODE = re.compile(r"answered HTTP (\d{3})")


@dataclass
class FleetRequest:
    """One document's request: its id, image paths, prompt."""

    doc_id: str
    images: list[Any]
    prompt: str


def requests_for(documents: list[Any]) -> list[FleetRequest]:
    """Requests for case-study documents (helpers.cases.documents), with the case-study JSON prompt."""
    from helpers.cases.pipeline import document_prompt

    return [FleetRequest(d.id, list(d.images), document_prompt(d)) for d in documents]


def classify(err: BackendError) -> tuple[str, bool]:
    """(kind, retryable) of a backend error: http_429 / http_5xx / timeout / connection retry; other 4xx not.

    Example:
        >>> classify(BackendError("http://x/v1/chat/completions answered HTTP 400: bad"))
        ('http_400', False)
        >>> classify(BackendError("no OpenAI-compatible server answered at x after 1 tries (HTTP 503: busy)"))
        ('http_5xx', True)
    """
    text = str(err)
    m = _CODE.search(text)
    if m:
        code = int(m.group(1))
        return f"http_{code}", code == 429
    if "HTTP 5" in text:
        return "http_5xx", True
    if "timed out" in text.lower():
        return "timeout", True
    return "connection", True


@dataclass
class Endpoint:
    """One server, its backend, and what happened there."""

    url: str
    backend: HttpBackend
    in_flight: int = 0
    resting_until: float = 0.0
    latencies: list[float] = field(default_factory=list)
    completion_tokens: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class FleetRun:
    """The outcome: per-endpoint stats, documents answered / failed now, skipped as already done."""

    endpoints: list[Endpoint]
    answered: int
    failed: int
    skipped: int
    seconds: float
    out: Path
    repaired_last_line: bool
    notes: list[str] = field(default_factory=list)

    def summary(self):
        """Per-endpoint table: answered, errors by kind, latency p50/p90/p99 (s), tokens/s."""
        import numpy as np
        import pandas as pd

        rows = []
        for ep in self.endpoints:
            lat = np.array(ep.latencies) if ep.latencies else np.array([np.nan])
            rows.append(
                {
                    "endpoint": ep.url,
                    "answered": ep.ok,
                    "errors": sum(ep.errors.values()),
                    "error_kinds": ", ".join(f"{k}×{v}" for k, v in sorted(ep.errors.items())) or "-",
                    "p50_s": float(np.nanpercentile(lat, 50)) if ep.latencies else None,
                    "p90_s": float(np.nanpercentile(lat, 90)) if ep.latencies else None,
                    "p99_s": float(np.nanpercentile(lat, 99)) if ep.latencies else None,
                    "tokens_per_s": round(ep.completion_tokens / self.seconds, 2) if self.seconds else 0.0,
                }
            )
        return pd.DataFrame(rows)


class _Dispatcher:
    def __init__(self, endpoints: list[Endpoint], rest_s: float):
        self.endpoints, self.rest_s, self.lock = endpoints, rest_s, threading.Lock()

    def acquire(self) -> Endpoint:
        with self.lock:
            now = time.monotonic()
            awake = [e for e in self.endpoints if e.resting_until <= now] or self.endpoints
            ep = min(awake, key=lambda e: (e.in_flight, e.resting_until))
            ep.in_flight += 1
            return ep

    def release(self, ep: Endpoint, latency: float | None, tokens: int, error: str | None) -> None:
        with self.lock:
            ep.in_flight -= 1
            if error:
                ep.errors[error] = ep.errors.get(error, 0) + 1
                if error in ("connection", "timeout"):
                    ep.resting_until = time.monotonic() + self.rest_s
            else:
                ep.ok += 1
                ep.latencies.append(latency or 0.0)
                ep.completion_tokens += tokens


def _one(
    req: FleetRequest, disp: _Dispatcher, retries: int, backoff_s: float, max_new_tokens: int
) -> dict[str, Any]:
    reasons: list[str] = []
    for attempt in range(retries + 1):
        ep = disp.acquire()
        start = time.perf_counter()
        try:
            res = ep.backend.generate(req.images, req.prompt, max_new_tokens=max_new_tokens)
        except BackendError as err:
            kind, retryable = classify(err)
            disp.release(ep, None, 0, kind)
            reasons.append(f"{ep.url}: {kind}: {str(err)[:160]}")
            if not retryable or attempt == retries:
                return {"doc_id": req.doc_id, "ok": False, "reason": reasons[-1], "attempts": attempt + 1}
            time.sleep(backoff_s * 2**attempt * (1 + 0.1 * random.random()))
            continue
        latency = time.perf_counter() - start
        disp.release(ep, latency, res.new_tokens, None)
        return {
            "doc_id": req.doc_id,
            "ok": True,
            "endpoint": ep.url,
            "text": res.text,
            "prompt_tokens": res.prompt_tokens,
            "completion_tokens": res.new_tokens,
            "latency_s": round(latency, 4),
            "attempts": attempt + 1,
            "retried_after": reasons,
        }
    raise AssertionError("unreachable")


def run_fleet(
    requests: list[FleetRequest],
    endpoints: list[str],
    served_model: str,
    out: str | Path,
    concurrency: int = 4,
    timeout_s: float = 60.0,
    retries: int = 3,
    backoff_s: float = 0.5,
    max_new_tokens: int = 64,
    progress: bool = True,
    retry_failed: bool = False,
    stop_after: int | None = None,
) -> FleetRun:
    """Answer every request not yet in `out` through `endpoints`; see the module docstring.

    `stop_after` ends the run after that many new results (a stand-in for Ctrl-C in tests and demos).
    """
    from tqdm.auto import tqdm

    import helpers.estimate.vision_tokens  # noqa: F401  (first imports cost seconds: not a request's latency)
    import helpers.infer.inputs  # noqa: F401

    journal = open_journal(out, retry_failed=retry_failed)
    todo = [r for r in requests if r.doc_id not in journal.done]
    if stop_after is not None:
        todo = todo[:stop_after]
    eps = [
        Endpoint(u, HttpBackend(u, served_model=served_model, timeout_s=timeout_s, retries=0, concurrency=1))
        for u in endpoints
    ]
    disp = _Dispatcher(eps, rest_s=max(1.0, 4 * backoff_s))
    start = time.perf_counter()
    answered = failed = 0
    with tqdm(
        total=len(todo), desc=f"batch over {len(eps)} endpoint(s)", disable=not progress, unit="doc"
    ) as bar:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = [pool.submit(_one, r, disp, retries, backoff_s, max_new_tokens) for r in todo]
            for fut in as_completed(futures):  # written as they arrive, not in submission order
                record = fut.result()
                journal.append(record)
                answered += record["ok"]
                failed += not record["ok"]
                bar.update(1)
    run = FleetRun(
        eps,
        answered,
        failed,
        len(requests) - len(todo),
        time.perf_counter() - start,
        Path(out),
        journal.repaired,
    )
    for ep in eps:
        if ep.ok == 0 and ep.errors and answered:
            run.notes.append(
                f"{ep.url} answered nothing ({sum(ep.errors.values())} errors): all went to the others"
            )
    if journal.repaired:
        run.notes.append("a half-written last line from an interrupted run was cut and that document redone")
    return run


def results(out: str | Path) -> list[dict[str, Any]]:
    """The records in a results file (after cutting a half-written last line)."""
    return open_journal(out).records


def score_results(documents: list[Any], out: str | Path):
    """Score the answered documents with the case-study evaluation (a PipelineRun); unanswered ones score
    0."""
    from helpers.cases.pipeline import score_answers

    by_id = {r["doc_id"]: r for r in results(out)}
    texts = [by_id[d.id]["text"] if by_id.get(d.id, {}).get("ok") else "" for d in documents]
    return score_answers(documents, texts, name=f"batch {Path(out).name}")
