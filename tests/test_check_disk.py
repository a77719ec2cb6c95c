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


def _free_gib(path) -> float:
    import shutil

    return shutil.disk_usage(path).free / 2**30


def test_threshold_is_the_free_space(tmp_path):
    free = _free_gib(tmp_path)
    below, above = run(str(tmp_path), f"{free * 0.5:.3f}"), run(str(tmp_path), f"{free * 2 + 1:.3f}")
    assert below.returncode == 0 and below.stderr == ""
    assert above.returncode == 1 and f"{free:.1f} GiB free" in above.stderr


def test_missing_folder_checks_its_parent(tmp_path):
    free = _free_gib(tmp_path)
    assert run(str(tmp_path / "not-yet"), f"{free * 0.5:.3f}").returncode == 0
    result = run(str(tmp_path / "not-yet"), f"{free * 2 + 1:.3f}")
    assert result.returncode == 1 and str(tmp_path) in result.stderr and "not-yet" not in result.stderr
