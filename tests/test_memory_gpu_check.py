"""benchmarks/gpu_check.py runs its whole code path on a tiny config on CPU (--cpu-smoke)."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers.core.paths import ROOT


def test_gpu_check_cpu_smoke():
    out = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--cpu-smoke"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    result = json.loads(last[len("RESULT ") :])
    assert result["smoke"] and result["cases"] == 2
    assert result["decode_tok_s_all_gpu"] > 0 and result["decode_tok_s_1_layers_on_cpu"] > 0
