"""The pre-install disk check refuses, in one line, a disk that cannot hold the venv, and passes one that
can."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "check_disk.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_refuses_when_needed_exceeds_free(tmp_path):
    result = run(str(tmp_path), "1000000")  # a million GiB: no test machine has that free
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "GiB free" in lines[0] and "free some space" in lines[0]


def test_passes_when_enough_is_free(tmp_path):
    result = run(str(tmp_path), "0.001")
    assert result.returncode == 0 and result.stderr == ""


def test_missing_folder_checks_its_parent(tmp_path):
    result = run(str(tmp_path / "not-yet"), "0.001")
    assert result.returncode == 0
