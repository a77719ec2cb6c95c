"""Where the workbook keeps things: the repository root, data, the cache and build folders.

Example:
    >>> from helpers.core.paths import CONFIGS_DIR
    >>> (CONFIGS_DIR / "Qwen3-VL-30B-A3B-Instruct.json").exists()
    True
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data"
CONFIGS_DIR = DATA_DIR / "configs"
NOTEBOOKS_DIR = ROOT / "notebooks"
BUILD_DIR = ROOT / "build"
# Generated fixtures live here; git ignores it. QWEN3VL_CACHE moves it (e.g. to a bigger disk).
CACHE_DIR = Path(os.environ.get("QWEN3VL_CACHE", ROOT / ".cache"))


@contextmanager
def atomic_folder(dest: Path) -> Iterator[Path]:
    """Build a folder in a temporary sibling and put it at `dest` only when the block completes.

    On any error (Ctrl-C included) the temporary folder is removed and `dest` is left as it was,
    so an interrupted build never leaves a half-written checkpoint or data set.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "built"
        >>> with atomic_folder(target) as tmp:
        ...     _ = (tmp / "a.txt").write_text("done")
        >>> (target / "a.txt").read_text()
        'done'
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
