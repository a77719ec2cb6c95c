"""Every failure mode side by side: what plain `from_pretrained` does, the diagnosis, the repair and its
proof.

Example:
    >>> rows = walk_failure_modes(Path(tempfile.mkdtemp()))      # doctest: +SKIP
    >>> from helpers.core.tables import frame
    >>> frame(rows)                                               # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .doctor import diagnose
from .faults import FAULTS, make_variant
from .repair import repair
from .verify import max_abs_diff, reference_logits

REPAIR_COLUMN = "repair → max|Δlogits|"


def plain_load(path: Path, reference_logits_of_healthy: Any) -> str:
    """What a user sees from plain `from_pretrained`: the exception, or the silent logits damage."""
    try:
        return f"loads; max|Δlogits|={max_abs_diff(reference_logits_of_healthy, reference_logits(path)):.3g}"
    except Exception as err:  # the error a user would see, whatever its type
        return f"{type(err).__name__}: {str(err).splitlines()[0][:60]}"


def walk_failure_modes(work: Path) -> list[dict[str, Any]]:
    """Build every broken variant under `work`, load it plainly, diagnose it, and repair it where possible.

    One row per variant: mode, variant, from_pretrained, diagnosis, and the repair's max |Δlogits| against
    the healthy model (0.0 means identical) or why it was refused.
    """
    rows = []
    for name, fault in FAULTS.items():
        v = make_variant(name, work)
        report = diagnose(v.path)
        healthy = reference_logits(v.reference) if fault.mode else None
        row = {
            "mode": fault.mode,
            "variant": name,
            "from_pretrained": plain_load(v.path, healthy) if fault.mode else "-",
            "diagnosis": f"{fault.expect} ({'healthy' if report.healthy else 'problems'})",
        }
        try:
            result = repair(
                v.path,
                work / f"{name}-fixed",
                base=v.reference,
                reference=v.reference,
                progress=False,
                **fault.repair_kwargs,
            )
            row[REPAIR_COLUMN] = f"{result.max_abs_diff:.1f}"
        except Exception as err:  # a refusal is a result here: the table shows why
            row[REPAIR_COLUMN] = f"refused: {str(err)[:70]}"
        rows.append(row)
    return rows
