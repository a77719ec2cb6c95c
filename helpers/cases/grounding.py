"""Grounding: the boxes and points Qwen3-VL answers with, read, put on the ORIGINAL image, drawn and scored.

Qwen3-VL writes coordinates on a relative 0–1000 grid, whatever the image's size: ``{"bbox_2d": [x1, y1, x2,
y2], "label": "total"}`` (JSON lists, often in a ```json fence) or ``{"point_2d": [x, y]}``; older Qwen-VL
answers use tagged forms
(``<|object_ref_start|>total<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``
or ``<ref>total</ref><box>(x1,y1),(x2,y2)</box>``). Pixels of the original image are ``x · W / 1000`` and
``y · H / 1000``. The classic mistakes (QwenLM/Qwen3-VL issues 2020, 1871) are taking the numbers as pixels,
scaling by the size of the *resized* image the processor fed the model, and swapping x and y: `damaged`
reproduces each so IoU scores can catch them.

Example:
    >>> g = parse_grounding('[{"bbox_2d": [100, 200, 500, 400], "label": "total"}]')
    >>> to_pixels(g, width=480, height=600)["boxes"]
    [{'label': 'total', 'bbox': [48, 120, 240, 240]}]
    >>> iou((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333

CLI: ``echo '[{"bbox_2d": [100,200,500,400]}]' | qwen3vl grounding to-pixels --width 480 --height 600``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from helpers.core.errors import WorkbookError

GRID = 1000  # Qwen3-VL's relative coordinate grid
Box = tuple[int, int, int, int]
_NUM = r"\s*(-?\d+(?:\.\d+)?)\s*"
_TAGGED_BOX = re.compile(
    r"(?:<\|object_ref_start\|>(?P<l1>.*?)<\|object_ref_end\|>|<ref>(?P<l2>.*?)</ref>)?\s*"
    r"(?:<\|box_start\|>|<box>)\s*[\(\[]"
    + _NUM
    + ","
    + _NUM
    + r"[\)\]]?\s*,?\s*[\(\[]?"
    + _NUM
    + ","
    + _NUM
    + r"[\)\]]\s*(?:<\|box_end\|>|</box>)",
    re.S,
)
_TAGGED_POINT = re.compile(
    r"(?:<ref>(?P<l>.*?)</ref>)?\s*<point>\s*[\(\[]" + _NUM + "," + _NUM + r"[\)\]]\s*</point>", re.S
)


class GroundingError(WorkbookError, ValueError):
    """An answer with no readable box or point, or coordinates that are not numbers."""


def _coords(value: Any, n: int, what: str) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise GroundingError(f"{what} {value!r}: expected a list of {n} numbers on the 0-1000 grid")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise GroundingError(f"{what} {value!r}: every coordinate must be a number")
    return [float(v) for v in value]


def _json_items(text: str) -> list[Any] | None:
    body = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip(), flags=re.S)
    start = min((i for i in (body.find("["), body.find("{")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(body[start:])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, list) else [data]


def parse_grounding(text: str) -> dict[str, list[dict[str, Any]]]:
    """Boxes and points of an answer, still on the 0–1000 grid: ``{"boxes": [...], "points": [...]}``.

    Example:
        >>> parse_grounding("<ref>cat</ref><box>(10,20),(30,40)</box>")["boxes"]
        [{'label': 'cat', 'bbox': [10.0, 20.0, 30.0, 40.0]}]
    """
    if not isinstance(text, str) or not text.strip():
        raise GroundingError("empty answer: give the model's reply with bbox_2d / point_2d entries")
    boxes: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    items = _json_items(text)
    for item in items or []:
        if not isinstance(item, dict):
            raise GroundingError(f"entry {item!r}: expected an object with bbox_2d or point_2d")
        label = str(item.get("label", ""))
        if "bbox_2d" in item:
            boxes.append({"label": label, "bbox": _coords(item["bbox_2d"], 4, "bbox_2d")})
        if "point_2d" in item:
            points.append({"label": label, "point": _coords(item["point_2d"], 2, "point_2d")})
    if not items:
        for m in _TAGGED_BOX.finditer(text):
            label = (m["l1"] or m["l2"] or "").strip()
            boxes.append({"label": label, "bbox": [float(m[i]) for i in (3, 4, 5, 6)]})
        for m in _TAGGED_POINT.finditer(text):
            points.append({"label": (m["l"] or "").strip(), "point": [float(m[2]), float(m[3])]})
    if not boxes and not points:
        raise GroundingError(
            "no box or point found: expected JSON with bbox_2d/point_2d or <box>(x1,y1),(x2,y2)</box> tags"
        )
    return {"boxes": boxes, "points": points}


def _px(v: float, size: int) -> int:
    return int(min(max(round(v * size / GRID), 0), size))


def to_pixels(parsed: dict[str, list[dict[str, Any]]], width: int, height: int) -> dict[str, list[Any]]:
    """0–1000 grid → integer pixels of the original image, clamped to it (x by width, y by height).

    Example:
        >>> to_pixels({"boxes": [], "points": [{"label": "", "point": [500, 1200]}]}, 200, 100)["points"]
        [{'label': '', 'point': [100, 100]}]
    """
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise GroundingError(f"image size {width!r}x{height!r}: give positive whole pixels")
    boxes = []
    for b in parsed["boxes"]:
        x1, y1, x2, y2 = b["bbox"]
        x1, x2 = sorted((_px(x1, width), _px(x2, width)))
        y1, y2 = sorted((_px(y1, height), _px(y2, height)))
        boxes.append({"label": b["label"], "bbox": [x1, y1, x2, y2]})
    points = [
        {"label": p["label"], "point": [_px(p["point"][0], width), _px(p["point"][1], height)]}
        for p in parsed["points"]
    ]
    return {"boxes": boxes, "points": points}


def to_grid(box: Box, width: int, height: int) -> list[int]:
    """A pixel box as the model would write it on the 0–1000 grid (for building ideal answers).

    Example:
        >>> to_grid((48, 120, 240, 240), 480, 600)
        [100, 200, 500, 400]
    """
    x1, y1, x2, y2 = box
    return [
        round(x1 * GRID / width),
        round(y1 * GRID / height),
        round(x2 * GRID / width),
        round(y2 * GRID / height),
    ]


def iou(a: Box | list[int], b: Box | list[int]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 when they do not overlap.

    Example:
        >>> iou((0, 0, 10, 10), (0, 0, 10, 10))
        1.0
    """
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def damaged(grid_box: list[float], width: int, height: int, resized: tuple[int, int]) -> dict[str, list[int]]:
    """The pixel box a user draws from a correct 0–1000 answer, the right way and three wrong ways.

    `resized` is the (width, height) the processor resized the image to.

    Example:
        >>> sorted(damaged([100, 200, 500, 400], 480, 600, (320, 416)))
        ['as_pixels', 'correct', 'resized_image', 'x_y_swapped']
    """
    x1, y1, x2, y2 = grid_box

    def conv(b: list[float], w: int, h: int) -> list[int]:
        return to_pixels({"boxes": [{"label": "", "bbox": b}], "points": []}, w, h)["boxes"][0]["bbox"]

    # taken as pixels: grid x as pixel x, which is the same as converting for a 1000 x 1000 image
    as_pixels = [min(int(v), s) for v, s in zip(conv(grid_box, GRID, GRID), (width, height) * 2, strict=True)]
    return {
        "correct": conv(grid_box, width, height),
        "as_pixels": as_pixels,
        "resized_image": conv(grid_box, *resized),
        "x_y_swapped": conv([y1, x1, y2, x2], width, height),
    }


def draw_grounding(
    image: Any, pixels: dict[str, list[Any]], color: str = "red", truth: list[Box] | None = None
):
    """A copy of `image` with the boxes and points drawn (and ground-truth boxes in green).

    Example:
        >>> from PIL import Image
        >>> draw_grounding(Image.new("RGB", (50, 50)), {"boxes": [], "points": []}).size
        (50, 50)
    """
    from PIL import ImageDraw

    out = image.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    for box in truth or []:
        d.rectangle(tuple(box), outline="green", width=2)
    for b in pixels["boxes"]:
        d.rectangle(tuple(b["bbox"]), outline=color, width=3)
        if b["label"]:
            d.text((b["bbox"][0] + 2, max(0, b["bbox"][1] - 12)), b["label"], fill=color)
    for p in pixels["points"]:
        x, y = p["point"]
        d.ellipse((x - 5, y - 5, x + 5, y + 5), outline=color, width=3)
    return out


def main(argv: list[str] | None = None, prog: str = "qwen3vl grounding") -> int:
    """`qwen3vl grounding to-pixels --width W --height H`: an answer on stdin → JSON of pixel boxes/points."""
    p = argparse.ArgumentParser(prog=prog, description="Qwen3-VL boxes and points (0-1000 grid) to pixels")
    sub = p.add_subparsers(dest="command", required=True)
    tp = sub.add_parser(
        "to-pixels", help="read an answer on stdin, print boxes/points in original-image pixels"
    )
    tp.add_argument("--width", type=int, required=True, help="width of the ORIGINAL image, pixels")
    tp.add_argument("--height", type=int, required=True, help="height of the ORIGINAL image, pixels")
    try:
        args = p.parse_args(argv)
    except SystemExit as stop:
        return 2 if stop.code else 0
    try:
        if not (1 <= args.width <= 1_000_000 and 1 <= args.height <= 1_000_000):
            raise GroundingError(
                f"--width {args.width} --height {args.height}: give sizes between 1 and 1,000,000"
            )
        out = to_pixels(parse_grounding(sys.stdin.read()), args.width, args.height)
    except WorkbookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False))
    return 0
