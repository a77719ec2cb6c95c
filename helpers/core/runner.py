"""Execute the notebooks headless, in order, into build/ (executed .ipynb and .html), print a table, write
the record.

`make run` calls ``qwen3vl run``, which also writes build/run-record.json (helpers.core.run_record);
``qwen3vl run --update-reference`` (`make reference`) rewrites data/reference/run-record.json from a full run
of the embedded default. The notebook tests call `execute_notebook`.

Example:
    >>> rows = run_notebooks(["00_environment_and_fixtures.ipynb"])   # doctest: +SKIP
    >>> rows[0].status
    'ok'
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.core.model import ENV_VAR, model_setting
from helpers.core.paths import BUILD_DIR, NOTEBOOKS_DIR
from helpers.core.run_record import RECORD_PATH, REFERENCE_PATH, build_record, write_record
from helpers.core.tables import frame, to_text

CELL_TIMEOUT_S = 900


@dataclass
class NotebookRun:
    """One executed notebook: name, seconds, status ('ok' or the error's first line), output path."""

    name: str
    seconds: float
    status: str
    output: Path


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    """The workbook's notebooks in reading order (their file names start with the chapter number)."""
    paths = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if names:
        wanted = {Path(n).name for n in names}
        paths = [p for p in paths if p.name in wanted]
        missing = wanted - {p.name for p in paths}
        if missing:
            raise ValueError(f"no such notebook(s) in notebooks/: {sorted(missing)}")
    return paths


def execute_notebook(path: Path, model: str | None = None, out_dir: Path = BUILD_DIR) -> NotebookRun:
    """Execute one notebook with the given model setting; write the executed copy and its HTML."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    # The setting travels to the kernel as an environment variable, which every parameters cell reads;
    # plots use the inline backend whatever MPLBACKEND the caller (pytest, a headless shell) has.
    env = {
        **os.environ,
        ENV_VAR: model_setting(model),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    # IPC sockets in a private temporary folder: local-only, and no "running over TCP without encryption"
    # warning
    from jupyter_client.manager import AsyncKernelManager

    ipc_dir = Path(tempfile.mkdtemp(prefix="wb-kernel-"))
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(ipc_dir / "kernel"))
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.owns_km = (
        True  # so nbclient shuts the kernel down when the run ends, as it does for its own managers
    )
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        status = "error: " + (str(err).strip().splitlines() or ["?"])[-1][:200]
    finally:
        shutil.rmtree(ipc_dir, ignore_errors=True)
    seconds = time.perf_counter() - start
    output = out_dir / path.name
    nbformat.write(nb, output)
    _write_html(nb, output.with_suffix(".html"))
    return NotebookRun(path.name, seconds, status, output)


def _write_html(nb, target: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    target.write_text(body, encoding="utf-8")


def run_table(rows: list[NotebookRun]) -> pd.DataFrame:
    """The run table as a DataFrame: notebook, seconds, status.

    Example:
        >>> run_table([NotebookRun("01_memory_estimation", 12.345, "ok", Path("x"))]).iloc[0].to_dict()
        {'notebook': '01_memory_estimation', 'seconds': 12.3, 'status': 'ok'}
    """
    return frame(
        [{"notebook": r.name, "seconds": round(r.seconds, 1), "status": r.status} for r in rows],
        ["notebook", "seconds", "status"],
    )


def run_notebooks(names: list[str] | None = None, model: str | None = None) -> list[NotebookRun]:
    """Execute the notebooks in order, printing each row as it finishes."""
    rows = []
    for path in notebook_paths(names):
        row = execute_notebook(path, model)
        print(f"{row.name}: {row.seconds:.1f} s, {row.status}", flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None, prog: str = "qwen3vl") -> int:
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute every notebook into build/")
    run.add_argument("notebooks", nargs="*", help="file names; default: all, in order")
    run.add_argument("--model", help=f"model setting (default: ${ENV_VAR} or tiny)")
    run.add_argument(
        "--record", type=Path, default=RECORD_PATH, help=f"where the run record goes ({RECORD_PATH})"
    )
    run.add_argument(
        "--update-reference",
        action="store_true",
        help=f"also write {REFERENCE_PATH} (all notebooks, model tiny, every one ok)",
    )
    args = parser.parse_args(argv)
    if args.update_reference and (args.notebooks or model_setting(args.model) != "tiny"):
        parser.error(
            "--update-reference runs every notebook with the embedded default: drop names and --model"
        )
    from helpers.core.fixtures import build_fixtures

    build_fixtures()
    rows = run_notebooks(args.notebooks or None, args.model)
    print()
    print(to_text(run_table(rows)))
    print(f"\nexecuted copies and HTML: {BUILD_DIR}/  (model: {model_setting(args.model)})")
    record = build_record(rows, args.model)
    print(f"run record: {write_record(record, args.record)}")
    ok = all(r.status == "ok" for r in rows)
    if args.update_reference:
        if not ok:
            print(f"not updating {REFERENCE_PATH}: a notebook failed")
            return 1
        print(f"reference updated: {write_record(record, REFERENCE_PATH)}")
    return 0 if ok else 1
