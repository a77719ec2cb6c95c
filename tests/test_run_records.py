"""Run records and `qwen3vl compare`: figures travel from a kernel's output metadata into the record, two
records compare clean, a tampered figure makes compare exit 1 with that figure in its table, bad input exits
2."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from helpers.cli import main as cli
from helpers.core.compare import agree, compare_records, differ
from helpers.core.paths import NOTEBOOKS_DIR, ROOT
from helpers.core.records import collect_figures
from helpers.core.run_record import (
    REFERENCE_PATH,
    build_record,
    environment_fingerprint,
    load_record,
    model_identity,
    pinned_packages,
    write_record,
)
from helpers.core.runner import NotebookRun, execute_notebook, notebook_paths


def _notebook(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from helpers.core.records import record\nx = 6 * 7"),
        nbformat.v4.new_code_cell('record("answer", x)\nrecord("ratio", 1 / 3, rel_tol=0.1)'),
    ]
    path = tmp_path / "nb" / "99_records.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """A two-cell notebook run in a real kernel: its figures are in the executed copy's metadata."""
    tmp = tmp_path_factory.mktemp("records")
    run = execute_notebook(_notebook(tmp), model="tiny", out_dir=tmp / "out")
    assert run.status == "ok", run.status
    return run


def test_figures_travel_through_the_kernel(executed):
    figures = collect_figures(executed.output)
    assert figures["answer"] == {"value": 42, "rel_tol": None, "abs_tol": None}
    assert figures["ratio"]["rel_tol"] == 0.1 and abs(figures["ratio"]["value"] - 1 / 3) < 1e-12
    assert "recorded answer = 42" in executed.output.read_text()


def _record(executed):
    return build_record([NotebookRun("99_records.ipynb", 1.5, "ok", executed.output)], model="tiny")


def test_record_has_environment_model_git_and_figures(executed):
    record = _record(executed)
    env = record["environment"]
    assert env["python"] and env["cpu"]["count"] >= 1 and env["ram_bytes"] > 0 and "gpus" in env
    assert env["torch"]["version"].startswith("2.") and "cuda" in env["torch"]
    assert record["model"]["hash_kind"] == "fixture recipe" and len(record["model"]["hash"]) == 16
    assert len(record["git"]["commit"] or "") == 40 and isinstance(record["git"]["dirty"], bool)
    assert record["notebooks"]["99_records.ipynb"]["figures"]["answer"]["value"] == 42


def test_every_pin_is_fingerprinted():
    text = (ROOT / "pyproject.toml").read_text()
    pins = pinned_packages()
    assert len(pins) == text.count("==")
    assert pins["transformers"]["pinned"] == "5.23.0" and pins["accelerate"]["installed"] != "not installed"
    assert set(pins) <= set(environment_fingerprint()["packages"])


def test_local_checkpoint_hash_is_the_shards_sha256(tiny_moe):
    ident = model_identity(str(tiny_moe))
    shard = sorted(tiny_moe.glob("*.safetensors"))[0]
    assert ident["kind"] == "local" and ident["hash_kind"] == "shard sha256"
    assert ident["shards"][shard.name] == hashlib.sha256(shard.read_bytes()).hexdigest()


def test_two_records_compare_clean_and_a_tampered_one_differs(executed, tmp_path, capsys):
    a = write_record(_record(executed), tmp_path / "a.json")
    b = write_record(_record(executed), tmp_path / "b.json")
    assert cli(["compare", str(a), str(b)]) == 0
    assert "records agree" in capsys.readouterr().out
    tampered = json.loads(b.read_text())
    tampered["notebooks"]["99_records.ipynb"]["figures"]["answer"]["value"] = 43
    tampered["environment"]["packages"]["transformers"]["installed"] = "5.24.0"
    b.write_text(json.dumps(tampered))
    page = tmp_path / "diff.html"
    assert cli(["compare", str(a), str(b), "--html", str(page)]) == 1
    out = capsys.readouterr().out
    assert "answer" in out and "43" in out and "packages.transformers.installed" in out
    assert "answer" in page.read_text() and "<table" in page.read_text()


def test_tolerance_only_in_one_and_status(executed):
    a = _record(executed)
    b = copy.deepcopy(a)
    figs = b["notebooks"]["99_records.ipynb"]["figures"]
    figs["ratio"]["value"] *= 1.05  # within rel_tol 0.1
    assert not differ(compare_records(a, b))
    figs["ratio"]["value"] *= 1.2  # now outside
    del figs["answer"]
    b["notebooks"]["99_records.ipynb"]["status"] = "error: boom"
    table = compare_records(a, b)
    assert set(table["kind"]) >= {"outside tolerance", "only in A", "status"} and differ(table)
    assert agree(True, True) and not agree(True, 1) and agree(3, 3.0) and not agree(0.5, 0.6, abs_tol=0.05)


def test_unreadable_input_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text('{"schema": 1}')
    for args in ([str(bad), str(bad)], [str(tmp_path / "missing.json"), str(bad)], [str(other), str(other)]):
        assert cli(["compare", *args]) == 2
        out = capsys.readouterr()
        assert len((out.out + out.err).strip().splitlines()) == 1 and "Traceback" not in out.err


def test_reference_covers_every_notebook_with_five_figures():
    """data/reference/ is a full run of the embedded default (`make reference`); every chapter is in it."""
    reference = load_record(REFERENCE_PATH)
    assert reference["model"]["setting"] == "tiny" and reference["model"]["hash_kind"] == "fixture recipe"
    missing = {p.name for p in notebook_paths()} - set(reference["notebooks"])
    assert not missing, f"not in the reference (run `make reference`): {sorted(missing)}"
    for name, entry in reference["notebooks"].items():
        assert entry["status"] == "ok" and len(entry["figures"]) >= 5, name
    assert all((NOTEBOOKS_DIR / name).exists() for name in reference["notebooks"])
