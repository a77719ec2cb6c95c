"""Ground-truth boxes the document generators know: receipt fields, a financial-statement table cell, and the
imaging panel's marked region, in pixels of the rendered image (for scoring grounded answers by IoU).

The receipt and statement layouts are replayed from their generators' drawing code (same fonts, offsets and
cursor moves), then tightened to the ink inside that window; tests/test_grounding.py checks that each box
holds ink and that a ring around it is blank, so a layout change in a generator fails loudly.

Example:
    >>> cases = grounding_cases()
    >>> [c["id"] for c in cases]
    ['receipt_total', 'receipt_date', 'receipt_invoice', 'statement_total_assets_2025', 'imaging_region']
"""

from __future__ import annotations

import random
from typing import Any

Box = tuple[int, int, int, int]


def ink_box(image: Any, window: Box, threshold: int = 160) -> Box:
    """The tight box of dark pixels (any channel below `threshold`) inside `window`.

    Example:
        >>> from PIL import Image, ImageDraw
        >>> im = Image.new("RGB", (40, 40), "white")
        >>> ImageDraw.Draw(im).rectangle((10, 12, 20, 18), fill="black")
        >>> ink_box(im, (0, 0, 40, 40))
        (10, 12, 21, 19)
    """
    import numpy as np

    x0, y0, x1, y1 = window
    arr = np.asarray(image.convert("L").crop(window)) < threshold
    ys, xs = np.nonzero(arr)
    if not len(xs):
        raise ValueError(f"no ink inside {window}: the generator's layout changed")
    return (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)


def receipt_case(seed: int = 7) -> tuple[Any, dict[str, Box], dict[str, Any]]:
    """A receipt from helpers.cases.documents and the boxes of its total, date and invoice-code values."""
    from helpers.cases.documents import _draw_receipt, _receipt_data
    from helpers.core.fonts import cjk_font

    data = _receipt_data(random.Random(seed))
    img = _draw_receipt(data)
    width = img.width
    y = 146 + 40 + 34 * len(data["items"])  # the cursor after the item rows, as _draw_receipt moves it

    def value_box(prefix: str, x: int, top: int, size: int) -> Box:
        x0 = int(x + cjk_font(size).getlength(prefix))
        return ink_box(img, (x0, top - 4, width - 20, top + size + 8))

    boxes = {
        "total": value_box("合计 Total: ¥", 24, y + 18, 22),
        "date": value_box("日期 Date: ", 24, 76, 18),
        "invoice": value_box("发票代码 Invoice code: ", 24, y + 58, 11),
    }
    return img, boxes, data


def statement_case(seed: int = 0, key: str = "total_assets", year: int = 2025) -> tuple[Any, Box, str]:
    """A page of the financial statement and the box of one table cell (key, year)."""
    from helpers.cases.doc_render import Page
    from helpers.cases.financial_docs import LINES, money, statement

    st = statement(seed, lang="en")
    page_no = st.page_of(key)
    img = st.pages[page_no]
    cursor = Page(img.width, img.height, image=img.copy())  # replay the cursor: two titles, a line, a rule
    cursor.y += (26 + 8) + (24 + 14) + (16 + 10) + 8
    rows = [k for k, _, _, pg, _ in LINES if pg == page_no]
    top = cursor.y + (1 + rows.index(key)) * (19 + 17)
    right = cursor.margin + (700 if year == 2025 else 890)
    box = ink_box(img, (right - 200, top - 4, right + 4, top + 19 + 8))
    return img, box, money(st.values[year][key])


def grounding_cases() -> list[dict[str, Any]]:
    """Each case: id, image, the question, and the ground-truth box in pixels.

    Example:
        >>> from helpers.cases.medical_docs import imaging_case
        >>> grounding_cases()[-1]["box"] == imaging_case(0, "en").region
        True
    """
    from helpers.cases.medical_docs import imaging_case

    img, boxes, _ = receipt_case()
    cases = [
        {
            "id": "receipt_total",
            "image": img,
            "question": "Where is the total amount?",
            "box": boxes["total"],
        },
        {"id": "receipt_date", "image": img, "question": "Where is the date?", "box": boxes["date"]},
        {
            "id": "receipt_invoice",
            "image": img,
            "question": "Where is the invoice code?",
            "box": boxes["invoice"],
        },
    ]
    page, cell, _ = statement_case()
    cases.append(
        {
            "id": "statement_total_assets_2025",
            "image": page,
            "question": "Where is the 2025 total assets figure?",
            "box": cell,
        }
    )
    scan = imaging_case(0, "en")
    cases.append(
        {"id": "imaging_region", "image": scan.image, "question": 'Where is region "A"?', "box": scan.region}
    )
    return cases
