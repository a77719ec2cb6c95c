"""A CJK font that comes with the normal setup: Noto Sans CJK SC from the `mplfonts` wheel.

Noto Sans CJK SC is under the SIL Open Font License. (The same wheel also ships a SimHei file, which
is not freely licensed: we never use it.) No root, no system fonts, no download.

Example:
    >>> cjk_font_path().name
    'NotoSansCJKsc-Regular.otf'
    >>> font = cjk_font(24)
    >>> renders_glyph("发票", font)
    True
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError

FONT_FILE = "NotoSansCJKsc-Regular.otf"


class FontError(WorkbookError, RuntimeError):
    """The CJK font is not where the normal setup puts it."""


def cjk_font_path() -> Path:
    """Path of Noto Sans CJK SC inside the installed `mplfonts` package.

    Example:
        >>> cjk_font_path().suffix
        '.otf'
    """
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise FontError("mplfonts is not installed: run `make venv` (it ships Noto Sans CJK SC)")
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / FONT_FILE
    if not path.is_file():
        raise FontError(
            f"{path} is missing: reinstall mplfonts (`.venv/bin/pip install --force-reinstall mplfonts`)"
        )
    return path


@lru_cache(maxsize=32)
def cjk_font(size: int = 20) -> Any:
    """A `PIL.ImageFont.FreeTypeFont` of Noto Sans CJK SC at `size` pixels.

    Example:
        >>> cjk_font(16).size
        16
    """
    from PIL import ImageFont

    return ImageFont.truetype(str(cjk_font_path()), size)


def glyph_bitmap(char: str, font: Any) -> bytes:
    """The rendered 1-bit bitmap of one character (used to tell real glyphs from tofu boxes)."""
    mask = font.getmask(char, mode="1")
    return bytes(mask) + f"{mask.size}".encode()


def notdef_bitmap(font: Any) -> bytes:
    """The bitmap of the font's .notdef glyph (what a missing character is drawn as: 'tofu')."""
    # A private-use code point no CJK font maps: it renders as .notdef.
    return glyph_bitmap("\ue000", font)


def renders_glyph(text: str, font: Any | None = None) -> bool:
    """True when every non-space character of `text` has its own glyph (none is the .notdef box).

    Example:
        >>> renders_glyph("合计 Total")
        True
    """
    font = font or cjk_font(24)
    tofu = notdef_bitmap(font)
    return all(glyph_bitmap(ch, font) != tofu for ch in text if not ch.isspace())


def use_in_matplotlib() -> str:
    """Register the font with matplotlib and make it the default family; returns the family name.

    Example:
        >>> use_in_matplotlib()
        'Noto Sans CJK SC'
    """
    import matplotlib
    from matplotlib import font_manager

    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    matplotlib.rcParams["font.family"] = [name, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return name
