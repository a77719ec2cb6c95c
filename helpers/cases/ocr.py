"""The classic baseline: OCR (rapidocr-onnxruntime, offline) plus rule-based answers, same evaluator.

rapidocr-onnxruntime's wheel carries its PP-OCR Chinese/English ONNX models, so the first call needs
no download. Results are cached per image content under .cache/ocr (OCR costs ~1 s per image here).

`answer_with_rules` turns the OCR lines of a document's images into answers, following each field's
``ocr_rules`` (how to look: "the value after the label 合计", "the row with the largest 金额", …),
never the ground truth. It is what a pre-VLM document pipeline does; scoring it with the same
evaluator shows what a VLM must beat.

Example:
    >>> from helpers.cases.documents import vqa_documents
    >>> doc = vqa_documents()[0]
    >>> answers = answer_with_rules(doc)
    >>> sorted(answers) == sorted(doc.truth)
    True
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from helpers.cases.evaluation import parse_number
from helpers.core.paths import CACHE_DIR

OCR_CACHE = CACHE_DIR / "ocr"
_ENGINE_TAG = "rapidocr-onnxruntime-nocls-v1"


@dataclass
class OcrLine:
    """One recognised text line: text, box (x0, y0, x1, y1) in pixels, confidence."""

    text: str
    box: tuple[float, float, float, float]
    score: float

    @property
    def xc(self) -> float:
        return (self.box[0] + self.box[2]) / 2

    @property
    def yc(self) -> float:
        return (self.box[1] + self.box[3]) / 2

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def model_files() -> list[Path]:
    """The ONNX models shipped inside the rapidocr-onnxruntime wheel (no download at first use)."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("rapidocr-onnxruntime is not installed: run `make venv`")
    return sorted((Path(next(iter(spec.submodule_search_locations))) / "models").glob("*.onnx"))


@lru_cache(maxsize=1)
def _engine():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def _as_png_bytes(image: Any) -> bytes:
    if isinstance(image, str | Path):
        return Path(image).read_bytes()
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def ocr_lines(image: Any, use_cache: bool = True) -> list[OcrLine]:
    """OCR one image (path or PIL image) into lines in reading order (top to bottom, left to right).

    Example:
        >>> from PIL import Image
        >>> ocr_lines(Image.new("RGB", (64, 64), "white"))
        []
    """
    data = _as_png_bytes(image)
    key = hashlib.sha256(data + _ENGINE_TAG.encode()).hexdigest()[:24]
    cached = OCR_CACHE / f"{key}.json"
    if use_cache and cached.is_file():
        raw = json.loads(cached.read_text(encoding="utf-8"))
    else:
        result, _elapsed = _engine()(data, use_cls=False)
        raw = []
        for box, text, score in result or []:
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            raw.append({"text": text, "box": [min(xs), min(ys), max(xs), max(ys)], "score": float(score)})
        if use_cache:
            OCR_CACHE.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
            tmp.replace(cached)
    lines = [OcrLine(r["text"], tuple(r["box"]), r["score"]) for r in raw]
    return sorted(lines, key=lambda ln: (round(ln.yc / max(ln.height, 1)), ln.box[0]))


def ocr_text(image: Any) -> str:
    """The recognised text of one image, one line per OCR box.

    Example:
        >>> from PIL import Image
        >>> ocr_text(Image.new("RGB", (64, 64), "white"))
        ''
    """
    return "\n".join(ln.text for ln in ocr_lines(image))


# ----------------------------------------------------------------------------- rules


def _norm(text: str) -> str:
    """NFKC, no whitespace, case kept (for values returned to the caller)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def norm_ocr(text: str) -> str:
    """OCR text for matching: NFKC, no spaces, case-folded (so '（资产）' matches '(资产)').

    Example:
        >>> norm_ocr("Total  Assets（2025）")
        'totalassets(2025)'
    """
    return _norm(text).casefold()


def same_row(lines: list[OcrLine], anchor: OcrLine, exclude_self: bool = True) -> list[OcrLine]:
    """OCR lines whose vertical centre lies within 0.6 line-heights of `anchor`'s, left to right."""
    row = [
        ln
        for ln in lines
        if abs(ln.yc - anchor.yc) < 0.6 * max(anchor.height, 1) and not (exclude_self and ln is anchor)
    ]
    return sorted(row, key=lambda ln: ln.box[0])


def cells_right_of(lines: list[OcrLine], anchor: OcrLine) -> list[OcrLine]:
    """The lines on `anchor`'s row that start right of its end, left to right (a table row's cells)."""
    return [ln for ln in same_row(lines, anchor) if ln.box[0] > anchor.box[2]]


def find_label(lines: list[OcrLine], label: str) -> OcrLine | None:
    """The OCR line equal to `label` (normalised), else the first that starts with it."""
    want = norm_ocr(label)
    exact = [ln for ln in lines if norm_ocr(ln.text) == want]
    if exact:
        return exact[0]
    return next((ln for ln in lines if norm_ocr(ln.text).startswith(want)), None)


def _find(lines: list[OcrLine], label: str) -> OcrLine | None:
    """The first line that contains `label` anywhere (looser than `find_label`: a value glued on)."""
    want = norm_ocr(label)
    return next((ln for ln in lines if want in norm_ocr(ln.text)), None)


def _right_of(lines: list[OcrLine], anchor: OcrLine) -> OcrLine | None:
    """The first line on the row starting right of `anchor` (2 px slack: the OCR boxes can touch)."""
    return next((ln for ln in same_row(lines, anchor) if ln.box[0] >= anchor.box[2] - 2), None)


def _value(lines: list[OcrLine], label: str, number: bool = False) -> Any:
    anchor = _find(lines, label)
    if anchor is None:
        return None
    text = _norm(anchor.text)
    idx = text.casefold().find(_norm(label).casefold())
    rest = text[idx + len(_norm(label)) :].lstrip(":：").strip()
    if not rest:
        nxt = _right_of(lines, anchor)
        rest = _norm(nxt.text) if nxt else ""
    if number:
        return parse_number(rest)
    return rest or None


def _column_cells(lines: list[OcrLine], column: str) -> list[tuple[OcrLine, float]]:
    head = _find(lines, column)
    if head is None:
        return []
    width = max(head.box[2] - head.box[0], 40)
    cells = []
    for ln in lines:
        value = parse_number(_norm(ln.text)) if re.fullmatch(r"[\d.,]+", _norm(ln.text)) else None
        if value is not None and ln.yc > head.box[3] and abs(ln.xc - head.xc) < width:
            cells.append((ln, value))
    return cells


def _row_label(lines: list[OcrLine], cell: OcrLine) -> str | None:
    row = same_row(lines, cell, exclude_self=False)
    return _norm(row[0].text) if row else None


def _table_cell(lines: list[OcrLine], row: str, column: str) -> float | None:
    anchor = _find(lines, row)
    if anchor is None:
        return None
    in_row = {id(ln) for ln in same_row(lines, anchor, exclude_self=False)}
    hits = [v for ln, v in _column_cells(lines, column) if id(ln) in in_row]
    return hits[0] if hits else None


def _table_argmax(lines: list[OcrLine], column: str) -> str | None:
    cells = _column_cells(lines, column)
    return _row_label(lines, max(cells, key=lambda c: c[1])[0]) if cells else None


def _chart_bars(lines: list[OcrLine]) -> list[tuple[str, float]]:
    labels = [ln for ln in lines if re.fullmatch(r"\d+月", _norm(ln.text))]
    if not labels:
        return []
    axis_y = min(ln.box[1] for ln in labels)
    numbers = [
        (ln, float(_norm(ln.text))) for ln in lines if re.fullmatch(r"\d+", _norm(ln.text)) and ln.yc < axis_y
    ]
    bars = []
    for ln, value in numbers:
        label = min(labels, key=lambda lb: abs(lb.xc - ln.xc))
        bars.append((_norm(label.text), value))
    return bars


def _rule_answer(rule: dict[str, Any], pages: list[list[OcrLine]]) -> Any:
    op, first = rule.get("op"), pages[0] if pages else []
    if op == "first_line":
        return _norm(min(first, key=lambda ln: ln.box[1]).text) if first else None
    if op == "value":
        return _value(first, rule["label"], rule.get("number", False))
    if op == "table_cell":
        return _table_cell(first, rule["row"], rule["column"])
    if op == "table_argmax":
        return _table_argmax(first, rule["column"])
    if op == "chart_argmax":
        bars = _chart_bars(first)
        return max(bars, key=lambda b: b[1])[0] if bars else None
    if op == "chart_value":
        return next((v for label, v in _chart_bars(first) if label == _norm(rule["label"])), None)
    if op == "compare_lower" and len(pages) == 2:
        a, b = (_table_cell(p, rule["row"], rule["column"]) for p in pages)
        return None if a is None or b is None else ("first" if a < b else "second")
    if op == "abs_diff" and len(pages) == 2:
        a, b = (_value(p, rule["label"], number=True) for p in pages)
        return None if a is None or b is None else round(abs(a - b), 2)
    return None


def answer_with_rules(document: Any, images: list[Any] | None = None) -> dict[str, Any]:
    """Answers for every field that has an OCR rule (None where the rule found nothing).

    `images` overrides the document's own images (e.g. downscaled copies, to show small print lost).
    """
    pages = [ocr_lines(img) for img in (images if images is not None else document.images)]
    return {name: _rule_answer(rule, pages) for name, rule in document.ocr_rules.items()}
