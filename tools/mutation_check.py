"""Prove that the rewritten tests of issue 16 fail when the feature they guard breaks.

Each MUTATION is a small change to the FEATURE code (helpers/ or tools/, never a test). For each one, the
repository's tracked files are copied to a temporary folder (the real tree is never modified), the change is
applied there (it fails loudly unless `old` occurs exactly once), and the named test(s) run with pytest. A
test that FAILS on the mutated copy "killed" the mutation; one that passes let it "survive" (a weak test).
Every named test also runs once on the unmutated copy, to show that it passes there.

Usage:
    python tools/mutation_check.py                    # every mutation (a pytest run each: minutes)
    python tools/mutation_check.py --list             # names, files and tests, nothing run
    python tools/mutation_check.py --only fonts-rcparams --only disk-threshold

Ends with one line `RESULT {"mutations": N, "killed": K, "survived": [...]}` ("survived": every mutation
no test failed on, an errored pytest run included); exit 1 if any survived or a test fails unmutated, 2 on
bad input (an unknown --only name).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_CACHE = ROOT / ".cache"  # fixtures built once, reused by every run (unless the fixtures code mutates)
REL = "tests/test_reliability.py::"


@dataclass(frozen=True)
class Mutation:
    name: str
    tests: tuple[str, ...]  # pytest node ids that must fail on the mutated copy
    file: str
    old: str
    new: str
    more: tuple[tuple[str, str, str], ...] = ()  # further (file, old, new) edits of the same mutation

    def edits(self) -> list[tuple[str, str, str]]:
        return [(self.file, self.old, self.new), *self.more]


M = Mutation
CODE = "vocab-size-mismatch"
MUTATIONS: list[Mutation] = [
    # ---- the weak tests named in issue 16 ----
    M(
        "pair-total-diff-signed",
        ("tests/test_documents.py::test_pair_answers_follow_from_both_receipts",),
        "helpers/cases/documents.py",
        'round(abs(a["total"] - b["total"]), 2)',
        'round(a["total"] - b["total"], 2)',
    ),
    M(
        "pair-stale-total",
        ("tests/test_documents.py::test_pair_answers_follow_from_both_receipts",),
        "helpers/cases/documents.py",
        '        b["total"] = round(sum(i["amount"] for i in b["items"]), 2)\n',
        "",
    ),
    M(
        "memory-peak-drops-kv",
        ("tests/test_memory.py::test_kv_cache_formula",),
        "helpers/estimate/memory.py",
        "peak_bytes=weights + kv + act + overhead",
        "peak_bytes=weights + act + overhead",
    ),
    M(
        "fonts-rcparams",
        ("tests/test_fonts.py::test_matplotlib_registration",),
        "helpers/core/fonts.py",
        '    matplotlib.rcParams["font.family"] = [name, "DejaVu Sans"]\n',
        "",
    ),
    M(
        "http-no-batching",
        ("tests/test_http_serve.py::test_pipeline_batches_concurrent_requests",),
        "helpers/infer/backends.py",
        "ThreadPoolExecutor(max_workers=max(1, self.batch_size))",
        "ThreadPoolExecutor(max_workers=1)",
    ),
    M(
        "disk-threshold-flipped",
        ("tests/test_check_disk.py::test_threshold_is_the_free_space",),
        "tools/check_disk.py",
        "    if free < needed:",
        "    if free > needed:",
    ),
    M(
        "bnb-skips-linears",
        ("tests/test_offload.py::test_bitsandbytes_skips_fused_experts_fp8_converts_them",),
        "helpers/load/quantisation.py",
        "BitsAndBytesConfig(load_in_4bit=True)",
        'BitsAndBytesConfig(load_in_4bit=True, llm_int8_skip_modules=["q_proj"])',
    ),
    M(
        "fault-code-renamed-in-helpers",
        ("tests/test_checkpoints.py::test_fault_diagnosed_and_repaired[vocab-size]",),
        "helpers/checkpoints/findings.py",
        f'"{CODE}",',
        '"vocab-mismatch",',
        (
            (
                "helpers/checkpoints/faults.py",
                f'Fault(4, "{CODE}", True)',
                'Fault(4, "vocab-mismatch", True)',
            ),
            ("helpers/checkpoints/repair.py", f'report.has("{CODE}")', 'report.has("vocab-mismatch")'),
        ),
    ),
    # ---- one per regression test of tests/test_reliability.py ----
    M(
        "max-abs-diff-ignores-nan",
        (REL + "test_nan_logits_never_compare_equal",),
        "helpers/checkpoints/verify.py",
        "        if not (bool(torch.isfinite(a[k]).all()) and bool(torch.isfinite(b[k]).all())):\n"
        '            return float("inf")\n',
        "",
        (
            (
                "helpers/checkpoints/verify.py",
                "worst = diff if not diff <= worst else worst",
                "worst = max(worst, diff)",
            ),
        ),
    ),
    M(
        "scan-misses-inf",
        (REL + "test_inf_in_one_embedding_column_is_found_and_never_verified",),
        "helpers/checkpoints/scan.py",
        "np.equal(bits, NAN_E4M3 if mask is None else mask, out=bad)",
        "np.equal(bits, NAN_E4M3 if mask is None else mask, out=bad)\n            bad &= x != (mask or 0)",
    ),
    M(
        "scan-misses-nan",
        (REL + "test_nan_in_q_proj_is_not_healthy_and_repair_without_reference_refuses",),
        "helpers/checkpoints/scan.py",
        "np.equal(bits, NAN_E4M3 if mask is None else mask, out=bad)",
        "np.equal(x, NAN_E4M3 if mask is None else mask, out=bad)",
    ),
    M(
        "duplicate-keeps-first-copy",
        (REL + "test_duplicate_key_repair_keeps_the_copy_the_index_names",),
        "helpers/checkpoints/doctor.py",
        "                if wmap.get(tname) != fname:\n                    continue",
        "                continue",
    ),
    M(
        "config-experts-contradiction",
        (REL + "test_config_contradictions_are_a_named_finding",),
        "helpers/core/config_rules.py",
        "if local is not None and legacy is not None and local != legacy:",
        "if False:",
    ),
    M(
        "config-no-lower-bound",
        (REL + "test_memory_cli_refuses_bad_configs_in_one_line",),
        "helpers/core/config_rules.py",
        "elif not 1 <= value <= bound:",
        "elif not value <= bound:",
    ),
    M(
        "census-legacy-expert-key",
        (REL + "test_census_reads_the_expert_count_like_transformers",),
        "helpers/estimate/census.py",
        "    e_total = expert_count(text)",
        '    e_total = int(text.get("num_experts", 0) or 0)',
    ),
    M(
        "repair-dst-inside-src",
        (REL + "test_repair_refuses_a_destination_inside_or_equal_to_the_source",),
        "helpers/checkpoints/repair.py",
        "if d == s or s in d.parents:",
        "if d == s:",
    ),
    M(
        "repair-reference-unchecked",
        (REL + "test_repair_checks_paths_before_writing_and_leaves_nothing",),
        "helpers/checkpoints/repair.py",
        'if reference is not None and not (reference / "config.json").is_file():',
        "if False:",
    ),
    M(
        "repair-keeps-made-parents",
        (REL + "test_failed_verify_removes_the_parents_it_created",),
        "helpers/checkpoints/repair.py",
        "    except BaseException:\n        _remove_empty(made)\n        raise",
        "    except BaseException:\n        raise",
    ),
    M(
        "infer-image-not-decoded",
        (REL + "test_infer_refuses_bad_inputs_before_any_work",),
        "helpers/infer/limits.py",
        "                im.load()  #",
        "                pass  #",
    ),
    M(
        "fixture-size-unchecked",
        (REL + "test_damaged_cache_is_rebuilt",),
        "helpers/core/fixtures.py",
        'if not p.is_file() or p.stat().st_size != want["size"] or _sha256(p) != want["sha256"]:',
        "if not p.is_file():",
    ),
    M(
        "fixture-unwritable-raw-oserror",
        (REL + "test_unwritable_cache_is_one_line_naming_the_variable",),
        "helpers/core/fixtures.py",
        "            raise _unwritable(dest, err) from None",
        "            raise",
    ),
    M(
        "redact-accepts-unknown-kind",
        (REL + "test_redact_refuses_unknown_kind_and_closed_stdin",),
        "helpers/safety/cli.py",
        "        if unknown:",
        "        if False:",
    ),
    M(
        "cli-enospc-on-stdout-unnamed",
        (REL + "test_redact_with_a_broken_stdout_is_one_line",),
        "helpers/cli.py",
        "if err.errno in (errno.ENOSPC, errno.EPIPE, errno.EBADF)",
        "if err.errno in (errno.EPIPE, errno.EBADF)",
    ),
    # ---- issue 12: the planner's non-torch term and the v0.19 sampler path ----
    M(
        "serve-one-gpu-non-torch-everywhere",
        ("tests/test_serve_plan.py::test_planner_reproduces_the_logs_within_tolerance",),
        "helpers/serve/plan.py",
        "return measured_tp_non_torch_gib() if tp > 1 and gpu in NVLINK_GPUS else NON_TORCH_GIB",
        "return NON_TORCH_GIB",
    ),
    M(
        "serve-triton-sampler-as-sort",
        ("tests/test_serve_plan.py::test_planner_reproduces_the_logs_within_tolerance",),
        "helpers/serve/profile_run.py",
        '"torch": 38, "triton": 14}',
        '"torch": 38, "triton": 38}',
    ),
]


def copy_tree(dest: Path) -> None:
    """The tracked files of the working tree (as they are now, edits included) into dest."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def apply(tree: Path, edits: list[tuple[str, str, str]]) -> None:
    """Apply every (file, old, new) edit; `old` must occur exactly once, else ValueError."""
    for rel, old, new in edits:
        path = tree / rel
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            raise ValueError(
                f"{rel}: the mutation's old text occurs {text.count(old)} times, not once: {old!r}"
            )
        path.write_text(text.replace(old, new), encoding="utf-8")


def pytest(
    tree: Path, tests: list[str], cache: Path, stop_first: bool, junit: Path | None = None
) -> tuple[int, str]:
    """Run the tests in tree; (pytest's exit code, the first FAILED/ERROR line of its summary, or "")."""
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["QWEN3VL_CACHE"], env["COLUMNS"] = str(cache), "250"  # COLUMNS: the summary's failure reasons in full
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    if stop_first:
        cmd.insert(4, "-x")
    if junit is not None:
        cmd.append(f"--junitxml={junit}")
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    last = done.stdout.strip().splitlines()[-1:] or [""]
    return done.returncode, (failed or last)[0]


def unmutated(tests: list[str]) -> dict[str, bool]:
    """Run every named test once on an unmutated copy; node id -> passed (all its parameters passed)."""
    with tempfile.TemporaryDirectory(prefix="mutation-base-") as tmp:
        tree = Path(tmp) / "repo"
        copy_tree(tree)
        junit = Path(tmp) / "junit.xml"
        pytest(tree, tests, SHARED_CACHE, stop_first=False, junit=junit)
        cases: dict[str, bool] = {}
        if junit.is_file():
            for case in ET.parse(junit).iter("testcase"):
                node = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
                cases[node] = not any(child.tag in ("failure", "error", "skipped") for child in case)
    out = {}
    for test in tests:
        mine = [ok for node, ok in cases.items() if node == test or node.startswith(test + "[")]
        out[test] = bool(mine) and all(mine)
    return out


def run_mutation(mutation: Mutation) -> tuple[str, str]:
    """("killed", why) when a named test FAILS on the mutated copy (pytest exit 1); ("survived", "") when
    they pass; ("error", why) when pytest could not run them (collection or usage error, exit 2-5)."""
    with tempfile.TemporaryDirectory(prefix=f"mutation-{mutation.name}-") as tmp:
        tree = Path(tmp) / "repo"
        copy_tree(tree)
        apply(tree, mutation.edits())
        # the fixtures' fingerprint hashes fixtures.py: a mutated copy builds its own, leaving the shared ones
        touches_fixtures = any(rel == "helpers/core/fixtures.py" for rel, _, _ in mutation.edits())
        cache = Path(tmp) / "cache" if touches_fixtures else SHARED_CACHE
        rc, why = pytest(tree, list(mutation.tests), cache, stop_first=True)
        return ("killed" if rc == 1 else "survived" if rc == 0 else f"error (pytest exit {rc})"), why


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mutation_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run this mutation only")
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests; run nothing")
    args = parser.parse_args(argv)
    import pandas as pd

    names = [m.name for m in MUTATIONS]
    unknown = [n for n in args.only if n not in names]
    if unknown:
        print(f"error: unknown mutation {unknown[0]!r}: choose from {', '.join(names)}", file=sys.stderr)
        return 2
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 90)
    if args.list:
        rows = [
            {
                "mutation": m.name,
                "files": ", ".join(sorted({e[0] for e in m.edits()})),
                "test": " ".join(m.tests),
            }
            for m in chosen
        ]
        print(pd.DataFrame(rows).to_string(index=False))
        return 0
    start = time.perf_counter()
    for m in chosen:  # fail loudly, before any run, when a mutation no longer matches the code
        with tempfile.TemporaryDirectory() as tmp:
            for rel, _, _ in m.edits():
                (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, Path(tmp) / rel)
            apply(Path(tmp), m.edits())
    tests = sorted({t for m in chosen for t in m.tests})
    print(f"unmutated run of {len(tests)} test(s) ...", flush=True)
    passes = unmutated(tests)
    rows = []
    for m in chosen:
        t0 = time.perf_counter()
        outcome, why = run_mutation(m)
        print(f"{m.name}: {outcome} ({time.perf_counter() - t0:.0f} s) {why}", flush=True)
        for test in m.tests:
            rows.append(
                {
                    "mutation": m.name,
                    "test": test.replace("tests/", "").replace("test_reliability.py::", "reliability::"),
                    "unmutated": "passed" if passes[test] else "FAILED",
                    "mutated": outcome,
                    "how it failed": why.split(" - ", 1)[-1][:60] if outcome != "survived" else "",
                }
            )
    print(pd.DataFrame(rows).to_string(index=False))
    outcomes = {r["mutation"]: r["mutated"] for r in rows}
    survived = [name for name, outcome in outcomes.items() if outcome != "killed"]
    failing = [t for t in tests if not passes[t]]
    print(
        f"{len(chosen)} mutation(s) in {time.perf_counter() - start:.0f} s; "
        f"unmutated failures: {failing or 'none'}"
    )
    result = {"mutations": len(chosen), "killed": len(chosen) - len(survived), "survived": survived}
    print("RESULT " + json.dumps(result))
    return 1 if survived or failing else 0


if __name__ == "__main__":
    sys.exit(main())
