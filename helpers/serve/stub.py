"""A tiny OpenAI-compatible stub server (stdlib http.server on 127.0.0.1) for fault drills and demos.

It answers ``POST /v1/chat/completions`` with a fixed JSON answer and honest-looking usage, and can be
told to misbehave: answer HTTP 500 for the first `fail_first` requests (or every `fail_every`-th), answer
429, sleep `delay_s` before answering (timeouts), or be stopped and started again. It is not a model:
its answers are canned, and every chapter that uses it says so.

Example:
    >>> with stub_server(fail_first=1) as stub:
    ...     import urllib.request, json
    ...     req = urllib.request.Request(stub.url + "/v1/chat/completions", data=b"{}", method="POST")
    ...     try:
    ...         urllib.request.urlopen(req, timeout=5)
    ...     except Exception as err:
    ...         print(type(err).__name__, err.code)
    HTTPError 500
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = '{"answer": "stub"}'


@dataclass
class StubState:
    """What the stub does and has seen; change the fields while it runs."""

    fail_first: int = 0
    fail_every: int = 0
    status: int = 500
    delay_s: float = 0.0
    answer: str = ANSWER
    served_model: str = "stub-model"
    requests: int = 0
    server_seconds: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _handler(state: StubState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"data": [{"id": state.served_model}]})
            else:
                self._send(200, {"status": "ok"})

        def do_POST(self):
            start = time.perf_counter()
            self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            with state.lock:
                state.requests += 1
                n = state.requests
            if state.delay_s:
                time.sleep(state.delay_s)
            failing = n <= state.fail_first or (state.fail_every and n % state.fail_every == 0)
            if failing:
                self._send(state.status, {"error": f"stub answers {state.status} to request {n}"})
                return
            words = len(state.answer.split())
            self._send(
                200,
                {
                    "choices": [{"message": {"role": "assistant", "content": state.answer}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": words, "total_tokens": 100 + words},
                },
            )
            with state.lock:
                state.server_seconds.append(time.perf_counter() - start)

    return Handler


@dataclass
class Stub:
    """A running stub: its URL and its state."""

    url: str
    state: StubState
    server: ThreadingHTTPServer


@contextlib.contextmanager
def stub_server(port: int = 0, **settings) -> Iterator[Stub]:
    """Run the stub on 127.0.0.1 (a free port unless `port`) for the ``with`` block."""
    state = StubState(**settings)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Stub(f"http://127.0.0.1:{server.server_address[1]}", state, server)
    finally:
        server.shutdown()
        server.server_close()
