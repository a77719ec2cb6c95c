"""Exercises of chapter 04 (the checkpoint doctor): freshly generated broken checkpoints to diagnose, repair
and
load with a key mapping, judged by the doctor and by logits against the unbroken tiny fixture.

Each case is a new copy of the tiny MoE fixture, damaged by `helpers.checkpoints.faults` and put under a
neutral name (``.cache/learn/cases/04.N/checkpoint``), so the folder name does not give the fault away.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("04")]
    ['04.1', '04.2', '04.3']
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from helpers.core import paths

from .judges import one_of
from .registry import Verdict, exercise

NB = "04 · The checkpoint doctor"
CASE_FAULTS = {"04.1": "experts-per-expert", "04.2": "legacy-layout", "04.3": "prefix-module"}


def broken_checkpoint(fault: str, dest: Path) -> Path:
    """Copy the tiny MoE fixture, damage it with `fault` (helpers.checkpoints.faults) and put it at `dest`.

    Example:
        >>> broken_checkpoint("prefix-module", Path("/tmp/ex/checkpoint"))   # doctest: +SKIP
        PosixPath('/tmp/ex/checkpoint')
    """
    from helpers.checkpoints.faults import make_variant
    from helpers.core.paths import atomic_folder

    paths.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.CACHE_DIR) as root, atomic_folder(dest) as tmp:
        variant = make_variant(fault, Path(root))
        for item in variant.path.iterdir():
            shutil.move(str(item), tmp / item.name)
    return dest


def _case(exercise_id: str) -> Path:
    dest = paths.CACHE_DIR / "learn" / "cases" / exercise_id / "checkpoint"
    if not (dest / "config.json").exists():
        broken_checkpoint(CASE_FAULTS[exercise_id], dest)
    return dest


def _healthy() -> Path:
    from helpers.core.fixtures import build_fixture

    return build_fixture("tiny-moe")


@exercise(
    "04.1",
    "`case('04.1')` is a checkpoint folder that loads WITHOUT an error. What is wrong with it? Answer with "
    "the "
    "doctor's finding code for the problem (a string such as 'prefix-orig-mod').",
    f"{NB}, 'Every failure mode, one row each'",
    one_of("not what the doctor reports for this folder"),
    "`diagnose(case('04.1'))` reports {reference}: the MoE experts were saved one tensor per expert, which "
    "Transformers 5 does not convert, so they load as random weights with no error.",
    case=lambda: _case("04.1"),
    answer_form="a finding code",
)
def _finding_codes() -> list[str]:
    from helpers.checkpoints import diagnose

    paths.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.CACHE_DIR) as tmp:  # a fresh copy: the reader's may be edited
        report = diagnose(broken_checkpoint(CASE_FAULTS["04.1"], Path(tmp) / "checkpoint"))
    return [f.code for f in report.findings if f.severity in ("error", "warning")]


def _repaired(answer: Any, healthy: Path) -> Verdict:
    """04.2's judge: the doctor finds the folder healthy and its logits equal the unbroken fixture's."""
    from helpers.checkpoints import diagnose
    from helpers.checkpoints.verify import max_abs_diff, reference_logits

    if not isinstance(answer, str | Path) or not Path(answer).is_dir():
        return Verdict(False, "give the path of your repaired folder (a str or Path that exists)")
    report = diagnose(answer)
    if not report.healthy:
        problems = [f.code for f in report.findings if f.severity != "info"]
        return Verdict(False, f"the doctor still finds {problems} in {answer}")
    diff = max_abs_diff(reference_logits(healthy), reference_logits(Path(answer)))
    if diff != 0.0:
        return Verdict(
            False, f"the doctor is satisfied, but logits differ from the unbroken model by {diff:.3g}"
        )
    return Verdict(True)


@exercise(
    "04.2",
    "`case('04.2')` is another broken checkpoint. Write a repaired copy into a NEW folder and answer with "
    "that "
    "folder's path. It is right when the doctor finds it healthy AND its logits equal the unbroken model's.",
    f"{NB}, 'Every failure mode, one row each' and 'Reading one report in full'",
    _repaired,
    "`diagnose(case('04.2'))` finds the legacy Qwen-VL key layout (model.layers / visual); "
    "`repair(case('04.2'), case('04.2').parent / 'fixed')` renames the keys tensor by tensor, and its logits "
    "equal those of the unbroken fixture at {reference}.",
    case=lambda: _case("04.2"),
    answer_form="a folder path",
)
def _unbroken_fixture() -> Path:
    return _healthy()


def _mapping_loads(answer: Any, healthy: Path) -> Verdict:
    """04.3's judge: `from_pretrained(case, key_mapping=answer)` gives exactly the unbroken model's logits."""
    from helpers.checkpoints.verify import max_abs_diff, reference_logits

    if not isinstance(answer, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in answer.items()
    ):
        return Verdict(False, "give a dict of regular expression -> replacement strings")
    try:
        for pattern in answer:
            re.compile(pattern)
    except re.error as err:
        return Verdict(False, f"a pattern is not a valid regular expression ({err})")
    diff = max_abs_diff(reference_logits(healthy), reference_logits(_case("04.3"), key_mapping=answer))
    ok = diff == 0.0
    return Verdict(
        ok, "" if ok else f"it loads, but the logits differ from the unbroken model's by {diff:.3g}"
    )


@exercise(
    "04.3",
    "`case('04.3')` was saved from a model wrapped for training. Without repairing it, which `key_mapping` "
    "dict "
    "makes `from_pretrained(case('04.3'), key_mapping=...)` load it correctly (logits equal the unbroken "
    "model)?",
    f"{NB}, 'Claim d' (key_mapping)",
    _mapping_loads,
    "Every key starts with `module.` (DDP / DataParallel). `key_mapping={{r'^module\\.': ''}}` strips it at "
    "load "
    "time and the logits equal those of {reference}; `_fast_init=False` would change nothing.",
    case=lambda: _case("04.3"),
    answer_form="a key_mapping dict",
)
def _unbroken_fixture_043() -> Path:
    return _healthy()
