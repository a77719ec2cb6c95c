"""Every notebook: stored without outputs, shaped like a chapter, importing only what helpers has,
and executing headless with the embedded default without a cell error."""

from __future__ import annotations

import ast
import importlib
import json

import pandas as pd
import pytest

from helpers.core.compare import COLUMNS, compare_figures
from helpers.core.paths import NOTEBOOKS_DIR
from helpers.core.records import collect_figures
from helpers.core.run_record import REFERENCE_PATH, load_record
from helpers.core.runner import execute_notebook, notebook_paths

NOTEBOOKS = notebook_paths()
IDS = [p.name for p in NOTEBOOKS]


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def test_the_workbook_has_its_first_chapter():
    assert (NOTEBOOKS_DIR / "00_environment_and_fixtures.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_reads_like_a_chapter(path):
    cells = _cells(path)
    intro = _source(cells[0])
    assert cells[0]["cell_type"] == "markdown" and intro.startswith("# ")
    for heading in ("What you will learn", "What you need", "How long"):
        assert heading in intro, heading
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "MODEL" in _source(params[0])
    assert any("select_model(MODEL)" in _source(c) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_helpers_imports_resolve(path):
    """A static check, like unsloth's: every `from helpers.x import y` in a notebook exists."""
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        python = "\n".join(
            line for line in _source(cell).splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        for node in ast.walk(ast.parse(python)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(
                        f"{node.module}.{alias.name}"
                    ), f"{path.name}: {node.module}.{alias.name}"


def _code_asserts(path) -> list[ast.Assert]:
    found = []
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        python = "\n".join(
            line for line in _source(cell).splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        found += [n for n in ast.walk(ast.parse(python)) if isinstance(n, ast.Assert)]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_asserts_what_it_teaches(path):
    """Issue 16: a chapter asserts at least 3 of the figures its prose relies on, each on a computed name
    (an assert on a constant could never fail)."""
    asserts = _code_asserts(path)
    on_names = [a for a in asserts if any(isinstance(n, ast.Name) for n in ast.walk(a.test))]
    assert len(on_names) >= 3, f"{path.name} asserts {len(on_names)} computed figures; a chapter asserts >= 3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_executes_headless(path, fixture_paths):
    """Executes with the embedded default, then its key figures must match data/reference/ (`make
    reference`)."""
    run = execute_notebook(path, model="tiny")
    assert run.status == "ok", f"{path.name}: {run.status} (see {run.output})"
    assert run.output.with_suffix(".html").exists()
    figures = collect_figures(run.output)
    assert len(figures) >= 5, f"{path.name} records {len(figures)} key figures; a chapter declares at least 5"
    reference = load_record(REFERENCE_PATH)["notebooks"].get(path.name)
    assert reference is not None, (
        f"{path.name} is not in {REFERENCE_PATH}: regenerate it with `make reference`"
    )
    drift = compare_figures(path.name, reference["figures"], figures)
    table = pd.DataFrame(drift, columns=COLUMNS).to_string(index=False)
    assert not drift, f"{path.name} drifted from {REFERENCE_PATH} (`make reference` if intended):\n{table}"


def test_papermill_parameter_switches_the_model(tmp_path, fixture_paths):
    """The `parameters` cell is papermill's: `-p MODEL tiny-dense` must reach the code that loads."""
    import papermill

    out = tmp_path / "00.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "00_environment_and_fixtures.ipynb"),
        str(out),
        parameters={"MODEL": "tiny-dense"},
        kernel_name="python3",
        cwd=str(NOTEBOOKS_DIR),
        progress_bar=False,
    )
    text = out.read_text(encoding="utf-8")
    assert "model: tiny-dense" in text and "Qwen3VLForConditionalGeneration" in text
