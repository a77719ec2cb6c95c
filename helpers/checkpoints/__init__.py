"""The checkpoint doctor: diagnose a Qwen3-VL checkpoint folder and write a repaired, verified copy.

Example:
    >>> from helpers.checkpoints import diagnose, repair
    >>> report = diagnose("broken")                                   # doctest: +SKIP
    >>> print(report.table())                                         # doctest: +SKIP
    >>> repair("broken", "fixed", base="base-model").verified          # doctest: +SKIP
    True

CLI: ``python -m helpers.checkpoints diagnose PATH [--json]`` and
``python -m helpers.checkpoints repair SRC DST [--base BASE] [--reference REF]``.
"""

from .doctor import CheckpointInputError, diagnose
from .repair import RepairError, RepairResult, repair
from .report import Finding, Report

__all__ = ["CheckpointInputError", "Finding", "RepairError", "RepairResult", "Report", "diagnose", "repair"]
