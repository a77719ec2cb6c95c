"""Refuse, in one line, to start a fresh .venv on a disk that cannot hold it.

torch 2.14.1 (CUDA build, the pair pip finds for torchvision 0.29.1) with its nvidia-* wheels, triton and
the rest of the pins measured 6.6 GiB installed; a whole `make test` on a clean clone raised disk use by
9.6 GiB at its peak (fixtures, notebook checkpoints, temporary files). Failing here beats pip's
"[Errno 28] No space left on device" halfway through an install.

Usage: python3 tools/check_disk.py FOLDER [NEEDED_GIB]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

GIB = 2**30  # not helpers.core.units: this runs with the system python, before the venv exists
DEFAULT_NEEDED_GIB = 10.0


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: check_disk.py FOLDER [NEEDED_GIB]", file=sys.stderr)
        return 2
    folder = Path(argv[0]).resolve()
    needed = float(argv[1]) if len(argv) > 1 else DEFAULT_NEEDED_GIB
    probe = folder if folder.exists() else folder.parent
    free = shutil.disk_usage(probe).free / GIB
    if free < needed:
        print(
            f"error: {probe} has {free:.1f} GiB free; the workbook's .venv and test files need about "
            f"{needed:.0f} GiB: free some space (old clones, ~/.cache/pip, build/ or .cache/) "
            "and run make again",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
