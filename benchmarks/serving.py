"""Serving at scale: the batch client's own overhead, throughput at concurrency 4 vs 1 against a real
`transformers serve` of the embedded tiny model, and exactly-once after the client is killed mid-run.

- `client_overhead_ms_median`: per document, the fleet's wall time (dispatch, HTTP, JSON, the fsync'd
  journal write) minus the server's own handling time, at concurrency 1, text-only requests, against the
  stub server (helpers.serve.stub), which records its handling time per request; `transformers serve`
  does not report server time. `image_request_overhead_ms_median` is the same with the documents' images
  (PNG encoding and base64 included). Target for the client machinery: under 5 ms.
- `throughput_c4_over_c1`: documents per second at concurrency 4 over concurrency 1, same server.
- `exactly_once_after_kill`: `qwen3vl batch` is SIGKILLed after two results, then rerun: every document
  appears exactly once and answered.

    .venv/bin/python benchmarks/serving.py --quick

Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.cases.documents import build_vqa_set, vqa_documents  # noqa: E402
from helpers.core.model import select_model  # noqa: E402
from helpers.infer.serving import transformers_serve  # noqa: E402
from helpers.serve.fleet import FleetRequest, requests_for, results, run_fleet  # noqa: E402
from helpers.serve.stub import stub_server  # noqa: E402


def overhead_ms(reqs: list[FleetRequest], out: Path) -> float:
    """Median per-request (client latency - server handling) in ms at concurrency 1 against the stub."""
    with stub_server() as stub:
        run_fleet(reqs, [stub.url], "stub-model", out, concurrency=1, retries=0, progress=False)
        server = list(stub.state.server_seconds)
    lat = [r["latency_s"] for r in results(out)]
    return 1000 * statistics.median(c - s for c, s in zip(lat, server, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer documents and tokens")
    args = parser.parse_args()
    n, tokens = (6, 4) if args.quick else (11, 16)
    docs = vqa_documents()[:n]
    tmp = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    text_only = [FleetRequest(f"t{i}", [], "Reply with one word.") for i in range(50)]
    client_ms = overhead_ms(text_only, tmp / "text.jsonl")
    image_ms = overhead_ms(requests_for(docs), tmp / "images.jsonl")
    src = select_model("tiny").source
    with transformers_serve(src, wait_s=180) as srv:
        rates = {}
        for c in (1, 4):
            run = run_fleet(
                requests_for(docs),
                [srv.base_url],
                srv.served_model,
                tmp / f"c{c}.jsonl",
                concurrency=c,
                max_new_tokens=tokens,
                progress=False,
            )
            rates[c] = run.answered / run.seconds
        folder = build_vqa_set()
        out = tmp / "killed.jsonl"
        cmd = [
            sys.executable,
            "-m",
            "helpers",
            "batch",
            "--endpoint",
            srv.base_url,
            "--served-model",
            srv.served_model,
            "--docs",
            str(folder),
            "--out",
            str(out),
            "--concurrency",
            "1",
            "--max-new-tokens",
            str(tokens),
            "--no-progress",
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 150
        while (not out.exists() or len(out.read_text().splitlines()) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        killed_at = len(out.read_text().splitlines()) if out.exists() else 0
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    ids = [r["doc_id"] for r in results(out)]
    expected = sorted(d.id for d in vqa_documents())
    exactly_once = rerun.returncode == 0 and sorted(ids) == expected and all(r["ok"] for r in results(out))
    result = {
        "client_overhead_ms_median": round(client_ms, 2),
        "image_request_overhead_ms_median": round(image_ms, 2),
        "overhead_target_ms": 5,
        "docs_per_s_c1": round(rates[1], 3),
        "docs_per_s_c4": round(rates[4], 3),
        "throughput_c4_over_c1": round(rates[4] / rates[1], 2),
        "exactly_once_after_kill": exactly_once,
        "killed_after_results": killed_at,
        "documents": n,
        "max_new_tokens": tokens,
        "quick": args.quick,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
