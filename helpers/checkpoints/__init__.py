"""Stage 4, chapter 04 (the checkpoint doctor): diagnose a Qwen3-VL checkpoint folder and write a repaired,
verified
copy. Modules: doctor, repair, verify, faults, keys, config_checks, report, walkthrough, cli.

Example:
    >>> from helpers.checkpoints import diagnose, repair
    >>> report = diagnose("broken")                                   # doctest: +SKIP
    >>> print(report.table())                                         # doctest: +SKIP
    >>> repair("broken", "fixed", base="base-model").verified          # doctest: +SKIP
    True

CLI: ``qwen3vl doctor diagnose PATH [--json]`` and
``qwen3vl doctor repair SRC DST [--base BASE] [--reference REF]``.
"""

from .doctor import CheckpointInputError, diagnose
from .repair import RepairError, RepairResult, repair
from .report import Finding, Report

__all__ = ["CheckpointInputError", "Finding", "RepairError", "RepairResult", "Report", "diagnose", "repair"]
