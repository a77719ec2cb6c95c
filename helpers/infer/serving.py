"""Start a real OpenAI-compatible server on this machine: `transformers serve` with a local folder.

In Transformers 5.23, ``transformers serve PATH`` pins the server to that folder (loaded offline with
HF_HUB_OFFLINE=1), and a request must name the model exactly as PATH (any other name gets HTTP 400
"Server is pinned to …"). ``GET /health`` answers once it listens; ``GET /v1/models`` scans the Hub
cache and fails with HTTP 500 when no cache folder exists, so we wait on /health instead.

Example:
    >>> from helpers.core.model import select_model
    >>> with transformers_serve(select_model("tiny").source) as server:   # doctest: +SKIP
    ...     print(server.base_url, server.served_model)
    http://127.0.0.1:41235 /…/.cache/fixtures/tiny-moe
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers.core.errors import WorkbookError


class ServeError(WorkbookError, RuntimeError):
    """The local server did not come up; the message carries the end of its log."""


@dataclass
class Server:
    """A running server: where it listens, the model name requests must use, its process."""

    base_url: str
    served_model: str
    process: subprocess.Popen
    log_path: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def transformers_serve(
    model_path: str | Path, port: int | None = None, wait_s: float = 120.0, log_path: Path | None = None
) -> Iterator[Server]:
    """Run ``transformers serve MODEL_PATH`` on 127.0.0.1 (CPU, offline) for the ``with`` block.

    Waits at most `wait_s` for /health; always stops the server (its whole process group) on exit.
    """
    port = port or free_port()
    model = str(Path(model_path).resolve())
    exe = Path(sys.executable).with_name("transformers")
    cmd = [
        str(exe),
        "serve",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--format",
        "quiet",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"transformers-serve-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_s
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                why = (
                    "exited"
                    if process.poll() is not None
                    else f"did not answer /health within {wait_s:.0f} s"
                )
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise ServeError(f"`transformers serve` {why}; last log lines: {' | '.join(tail)}")
            time.sleep(0.5)
        yield Server(url, model, process, log_path)
    finally:
        _stop(process)
