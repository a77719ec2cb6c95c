"""Draw simple document pages (text lines and ruled tables) with the CJK font, remembering where things are.

The one drawing stack of the case studies (`documents`, `medical_docs`, `financial_docs`): a `Page` is a
white PIL image plus a cursor; `line()` draws labelled fields and returns the pixel box of each value, so
identifiers can be masked later and the ground truth knows where every printed value sits; `text_at()` places
text at a fixed point (receipts, charts, forms).

Example:
    >>> page = Page(600, 300)
    >>> boxes = page.line([("姓名：", None), ("张三", "NAME")], size=20)
    >>> boxes[0][0], len(boxes[0][1])
    ('NAME', 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.core.fonts import cjk_font

Box = tuple[int, int, int, int]


@dataclass
class Page:
    """A page being drawn: image, cursor, the text printed so far (one string per line)."""

    width: int
    height: int
    margin: int = 48
    y: int = 40
    lines: list[str] = field(default_factory=list)
    image: Any = None

    def __post_init__(self) -> None:
        from PIL import Image, ImageDraw

        self.image = self.image or Image.new("RGB", (self.width, self.height), "white")
        self.draw = ImageDraw.Draw(self.image)

    def line(
        self,
        parts: list[tuple[str, str | None]],
        size: int = 20,
        x: int | None = None,
        gap: int = 10,
        fill: str = "black",
    ) -> list[tuple[str, Box]]:
        """Draw text pieces on one line; pieces tagged with a kind return (kind, box)."""
        font = cjk_font(size)
        cx = self.margin if x is None else x
        boxes = []
        for text, kind in parts:
            box = self.draw.textbbox((cx, self.y), text, font=font)
            self.draw.text((cx, self.y), text, font=font, fill=fill)
            if kind:
                boxes.append((kind, (box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2)))
            cx = box[2]
        self.lines.append("".join(t for t, _ in parts))
        self.y += size + gap
        return boxes

    def text_at(
        self, xy: tuple[int, int], text: str, size: int, anchor: str = "la", fill: str = "black"
    ) -> None:
        """Text at an absolute position (PIL `anchor`, e.g. "ma" = middle-top); the cursor does not move."""
        self.draw.text(xy, text, font=cjk_font(size), fill=fill, anchor=anchor)

    def center(self, text: str, size: int = 28, gap: int = 14) -> None:
        """A centred title line."""
        font = cjk_font(size)
        w = self.draw.textlength(text, font=font)
        self.draw.text(((self.width - w) / 2, self.y), text, font=font, fill="black")
        self.lines.append(text)
        self.y += size + gap

    def rule(self, gap: int = 8, width: int = 2) -> None:
        """A horizontal rule across the text area."""
        self.draw.line((self.margin, self.y, self.width - self.margin, self.y), fill="black", width=width)
        self.y += gap

    def table(
        self,
        rows: list[list[str]],
        columns: list[int],
        size: int = 18,
        aligns: str | None = None,
        bold_rows: set[int] | None = None,
        gap: int = 9,
    ) -> None:
        """Rows of cells at x offsets `columns` (from the margin); 'r' in `aligns` right-aligns a column."""
        font = cjk_font(size)
        aligns = aligns or "l" * len(columns)
        bold_rows = bold_rows or set()
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                x = self.margin + columns[c]
                if aligns[c] == "r":
                    x -= self.draw.textlength(cell, font=font)
                self.draw.text(
                    (x, self.y),
                    cell,
                    font=font,
                    fill="black",
                    stroke_width=1 if r in bold_rows else 0,
                    stroke_fill="black",
                )
            self.lines.append("  ".join(row))
            self.y += size + gap

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def mask_boxes(image: Any, boxes: list[tuple[str, Box]], kinds: set[str] | None = None) -> Any:
    """A copy of `image` with the given boxes filled black (identifier regions before an image leaves).

    Example:
        >>> from PIL import Image
        >>> mask_boxes(Image.new("RGB", (10, 10), "white"), [("NAME", (0, 0, 4, 4))]).getpixel((1, 1))
        (0, 0, 0)
    """
    from PIL import ImageDraw

    out = image.copy()
    draw = ImageDraw.Draw(out)
    for kind, box in boxes:
        if kinds is None or kind in kinds:
            draw.rectangle(box, fill="black")
    return out
