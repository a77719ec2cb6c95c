"""Issue 16's evidence, reproducible: the regression tests and the CLI fuzzer run against the code before
the reliability fixes, then against this tree.

The unfixed code is commit c8b969e (the reliability branch with its fuzzer committed, before the fixes).
This script checks it out in a temporary git worktree, copies today's tests/test_reliability.py,
tests/fuzz_support.py and tests/test_cli_fuzz.py into it, and runs them there with two shims, each
marked BEFORE-SHIM: `nonfinite_where` (a helper the fix added) imports as None when absent, so only the
test that calls it fails on it; and in the fuzzer a `generate` over more than 100,000 prompt tokens
counts as the hang it is without running (one C attention kernel runs for hours, and the fuzzer's alarm
cannot interrupt C code). Then the same tests run on this tree. Per test: failed before, passes after.

Run: ``python tools/before_fixes.py [--fuzz] [--commit SHA]`` (minutes; --fuzz adds the 404-case fuzzer,
with QWEN3VL_FUZZ_ENFORCE=0 so that it reports counts). Last line ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("tests/test_reliability.py", "tests/fuzz_support.py", "tests/test_cli_fuzz.py")
IMPORT = (
    "from helpers.checkpoints.verify import max_abs_diff, model_logits, nonfinite_where, reference_logits"
)
IMPORT_SHIM = """from helpers.checkpoints.verify import max_abs_diff, model_logits, reference_logits

try:
    from helpers.checkpoints.verify import nonfinite_where
except ImportError:  # BEFORE-SHIM: the fix added it
    nonfinite_where = None"""
FUZZ_ANCHOR = "def test_cli_fuzz(tmp_path, monkeypatch, capfd, fuzz_long):\n"
FUZZ_SHIM = """    from transformers import GenerationMixin  # BEFORE-SHIM: see tools/before_fixes.py

    real_generate = GenerationMixin.generate

    def bounded_generate(self, *args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and ids.shape[-1] > 100_000:
            raise CaseTimeout
        return real_generate(self, *args, **kwargs)

    GenerationMixin.generate = bounded_generate
"""


def _shim(tree: Path) -> None:
    for rel in COPIED:
        shutil.copy2(ROOT / rel, tree / rel)
    rel = tree / "tests/test_reliability.py"
    text = rel.read_text(encoding="utf-8")
    if IMPORT not in text:
        raise SystemExit("tests/test_reliability.py's verify import changed: update IMPORT in this script")
    rel.write_text(text.replace(IMPORT, IMPORT_SHIM), encoding="utf-8")
    fuzz = tree / "tests/test_cli_fuzz.py"
    text = fuzz.read_text(encoding="utf-8")
    if FUZZ_ANCHOR not in text:
        raise SystemExit("tests/test_cli_fuzz.py's test function changed: update FUZZ_ANCHOR in this script")
    fuzz.write_text(text.replace(FUZZ_ANCHOR, FUZZ_ANCHOR + FUZZ_SHIM), encoding="utf-8")


def _pytest(
    tree: Path, target: str, out: Path, extra_env: dict[str, str], timeout: int = 300
) -> dict[str, str]:
    """Run pytest on `target` in `tree`; {test id: passed|failed|error|skipped} from its JUnit XML. A test
    running past `timeout` seconds fails (the unfixed code hangs on some inputs)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.update(extra_env)
    xml = out / f"{tree.name}-{Path(target).stem}.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--timeout={timeout}", target]
    subprocess.run([*cmd, f"--junitxml={xml}"], cwd=tree, env=env, capture_output=True, check=False)
    outcomes = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        state = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
        outcomes[case.get("name")] = {"failure": "failed"}.get(state, state)
    return outcomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default="c8b969e", help="the unfixed commit (default c8b969e)")
    ap.add_argument("--fuzz", action="store_true", help="also run the 404-case fuzzer on both trees")
    args = ap.parse_args()
    import pandas as pd

    work = Path(tempfile.mkdtemp(prefix="before-fixes-"))
    before = work / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(before), args.commit], cwd=ROOT, check=True)
    try:
        _shim(before)
        cache = {"QWEN3VL_CACHE": str(work / "cache")}
        result: dict = {"commit": args.commit}
        rel_before = _pytest(before, "tests/test_reliability.py", work, cache, timeout=90)
        rel_after = _pytest(ROOT, "tests/test_reliability.py", work, {})
        table = pd.DataFrame(
            [{"test": t, "before": rel_before.get(t, "absent"), "after": s} for t, s in rel_after.items()]
        )
        print(table.to_string(index=False))
        result["tests"] = len(table)
        result["failed_before"] = int((table["before"] != "passed").sum())
        result["passed_before"] = table.loc[table["before"] == "passed", "test"].tolist()
        result["passed_after"] = int((table["after"] == "passed").sum())
        if args.fuzz:
            for name, tree in (("before", before), ("after", ROOT)):
                report = work / f"fuzz-{name}.json"
                env = {**cache, "QWEN3VL_FUZZ_ENFORCE": "0", "QWEN3VL_FUZZ_REPORT": str(report)}
                _pytest(tree, "tests/test_cli_fuzz.py", work, env, timeout=0)
                summary = json.loads(report.read_text())
                result[f"fuzz_{name}"] = {k: summary[k] for k in ("cases", "total", "failures")}
        print("RESULT " + json.dumps(result, ensure_ascii=False))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
