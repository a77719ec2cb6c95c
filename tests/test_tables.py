"""Tables are DataFrames: units in headers, notebook styling, and the text a CLI prints."""

from __future__ import annotations

from pathlib import Path

from helpers.core.runner import NotebookRun, run_table
from helpers.core.tables import frame, in_units, styled, to_text
from helpers.core.units import GIB, MIB, fmt_bytes, fmt_gib, gib, mib, to_bytes, tokens_per_s
from helpers.load.loading import LoadingReport


def test_units_round_trip_and_one_formatter():
    assert gib(to_bytes(1.5, "GiB")) == 1.5 and mib(to_bytes(3, "MiB")) == 3
    assert fmt_bytes(80 * GIB, digits=0) == "80 GiB" and fmt_bytes(5 * MIB) == "5.0 MiB"
    assert fmt_bytes(100) == "100 B" and fmt_gib(GIB // 2, 1) == "0.5 GiB"
    assert tokens_per_s(30, 2.0) == 15.0 and tokens_per_s(3, 0) == 0.0


def test_frame_units_and_text():
    df = frame([{"name": "a", "weights_bytes": 2 * GIB}, {"name": "b<x>", "weights_bytes": GIB // 4}])
    shown = in_units(df)
    assert shown.columns.tolist() == ["name", "weights (GiB)"]
    assert shown["weights (GiB)"].tolist() == [2.0, 0.25]
    lines = to_text(shown).splitlines()
    assert lines[0].split() == ["name", "weights", "(GiB)"] and len(lines) == 3
    assert df["weights_bytes"].iloc[0] == 2 * GIB  # the original is not modified


def test_styled_formats_escapes_and_highlights():
    html = styled(frame([{"name": "<x>", "ratio": 1.23456}]), highlight="ratio").to_html()
    assert "1.23" in html and "1.2346" not in html
    assert "#fff3cd" in html
    assert "&lt;x&gt;" in html  # cells are escaped: a document's text never becomes markup


def test_renderers_return_dataframes():
    runs = run_table([NotebookRun("01_memory_estimation", 12.34, "ok", Path("x"))])
    assert runs.to_dict("records") == [{"notebook": "01_memory_estimation", "seconds": 12.3, "status": "ok"}]
    report = LoadingReport(missing=[f"w{i}" for i in range(7)], unexpected=["u"])
    table = report.table(limit=5)
    assert table.set_index("kind")["count"].to_dict() == {"missing": 7, "unexpected": 1, "mismatched": 0}
    assert table["examples"].iloc[0].endswith("…")
