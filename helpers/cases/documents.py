"""The seeded synthetic visual-QA set, written in the document-set format of helpers.cases.docset.

The medical and financial case studies keep their own records (`medical_docs.LabReport`,
`financial_docs.Statement`); all three share the drawing stack (helpers.cases.doc_render), the evaluator
(helpers.cases.evaluation) and the comparison harness (helpers.cases.harness).

The VQA set is drawn with Pillow and Noto Sans CJK SC (nothing under anyone else's licence):
receipts, tables, bar charts and forms, with questions in Chinese and English whose answers are
exact, and receipt pairs whose questions need both images at once. The same seed gives the same
bytes. ``ocr_rules`` per field tell the OCR baseline (helpers.cases.ocr) *how* to look for an answer
(e.g. "the value printed after the label 合计"), never the answer itself.

Example:
    >>> docs = vqa_documents()            # builds .cache/documents/vqa once, then reuses it
    >>> sorted({d.kind for d in docs})
    ['chart', 'form', 'receipt', 'receipt_pair', 'table']
    >>> pair = next(d for d in docs if d.kind == "receipt_pair")
    >>> len(pair.images), pair.types["total_diff"]
    (2, 'number')
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from helpers.cases.doc_render import Page
from helpers.cases.docset import GROUND_TRUTH, Document, load_documents, write_document_set
from helpers.core.paths import CACHE_DIR

SEED = 2026


# ----------------------------------------------------------------------------- vocabulary

SHOPS = ["绿叶超市", "华联便利店", "新鲜果园", "城南百货", "阳光药房"]
GOODS = ["牛奶", "面包", "苹果", "鸡蛋", "大米", "酸奶", "香蕉", "茶叶", "矿泉水", "饼干"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都"]
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"]
DEPARTMENTS = ["财务部", "市场部", "技术部", "人事部"]


def _money(value: float) -> str:
    return f"{value:.2f}"


# ----------------------------------------------------------------------------- generators


def _receipt_data(
    rng: random.Random, shop: str | None = None, must_have: str | None = None
) -> dict[str, Any]:
    goods = rng.sample([g for g in GOODS if g != must_have], 3)
    if must_have:
        goods.insert(rng.randrange(4), must_have)
    items = []
    for name in goods:
        qty = rng.randint(1, 4)
        unit = rng.randint(150, 2500) / 100
        items.append({"name": name, "qty": qty, "unit": unit, "amount": round(qty * unit, 2)})
    return {
        "shop": shop or rng.choice(SHOPS),
        "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "number": f"{rng.randint(100000, 999999)}",
        "invoice": "".join(str(rng.randint(0, 9)) for _ in range(10)),
        "items": items,
        "total": round(sum(i["amount"] for i in items), 2),
    }


def _draw_receipt(data: dict[str, Any]):
    width, row = 480, 34
    height = 250 + row * len(data["items"]) + 90
    page = Page(width, height)
    img, d, text = page.image, page.draw, page.text_at
    text((width // 2, 24), data["shop"], 30, "ma")
    text((24, 76), f"日期 Date: {data['date']}", 18)
    text((24, 102), f"单号 No: {data['number']}", 18)
    y = 146
    cols = [24, 200, 290, 390]
    for x, head in zip(cols, ["商品", "数量", "单价", "金额"], strict=True):
        text((x, y), head, 18)
    d.line((20, y + 28, width - 20, y + 28), fill="black", width=1)
    y += 40
    for item in data["items"]:
        for x, val in zip(
            cols, [item["name"], str(item["qty"]), _money(item["unit"]), _money(item["amount"])], strict=True
        ):
            text((x, y), val, 18)
        y += row
    d.line((20, y + 4, width - 20, y + 4), fill="black", width=2)
    text((24, y + 18), f"合计 Total: ¥{_money(data['total'])}", 22)
    text((24, y + 58), f"发票代码 Invoice code: {data['invoice']}", 11)
    text((width // 2, height - 18), "谢谢惠顾 Thank you", 14, "ms")
    return img


def _receipt(rng: random.Random, n: int) -> tuple[Document, list[Any]]:
    data = _receipt_data(rng)
    top = max(data["items"], key=lambda i: i["amount"])
    doc = Document(
        id=f"receipt_{n}",
        kind="receipt",
        images=[],
        questions={
            "shop": "这张收据的商店名称是什么？",
            "date": "What is the date on the receipt? Answer as YYYY-MM-DD.",
            "total": "合计金额是多少元？",
            "top_item": "Which item has the largest amount (金额)? Answer with its name as printed.",
            "invoice_code": "发票代码是什么？（小字）",
        },
        truth={
            "shop": data["shop"],
            "date": data["date"],
            "total": data["total"],
            "top_item": top["name"],
            "invoice_code": data["invoice"],
        },
        types={
            "shop": "string",
            "date": "string",
            "total": "number",
            "top_item": "string",
            "invoice_code": "string",
        },
        langs={"shop": "zh", "date": "en", "total": "zh", "top_item": "en", "invoice_code": "zh"},
        ocr_rules={
            "shop": {"op": "first_line"},
            "date": {"op": "value", "label": "Date"},
            "total": {"op": "value", "label": "合计", "number": True},
            "top_item": {"op": "table_argmax", "column": "金额"},
            "invoice_code": {"op": "value", "label": "Invoice code"},
        },
    )
    return doc, [_draw_receipt(data)]


def _receipt_pair(rng: random.Random, n: int) -> tuple[Document, list[Any]]:
    good = rng.choice(GOODS)
    shops = rng.sample(SHOPS, 2)
    a, b = _receipt_data(rng, shops[0], good), _receipt_data(rng, shops[1], good)
    ua = next(i["unit"] for i in a["items"] if i["name"] == good)
    ub = next(i["unit"] for i in b["items"] if i["name"] == good)
    if ua == ub:  # make the comparison decidable
        for i in b["items"]:
            if i["name"] == good:
                i["unit"] = round(ua + 0.5, 2)
                i["amount"] = round(i["qty"] * i["unit"], 2)
        b["total"] = round(sum(i["amount"] for i in b["items"]), 2)
        ub = ua + 0.5
    doc = Document(
        id=f"receipt_pair_{n}",
        kind="receipt_pair",
        images=[],
        questions={
            "cheaper": f"On which receipt is the unit price (单价) of {good} lower? "
            "Answer 'first' or 'second'.",
            "total_diff": "两张收据的合计金额相差多少元？（取正数）",
        },
        truth={
            "cheaper": "first" if ua < ub else "second",
            "total_diff": round(abs(a["total"] - b["total"]), 2),
        },
        types={"cheaper": "string", "total_diff": "number"},
        langs={"cheaper": "en", "total_diff": "zh"},
        ocr_rules={
            "cheaper": {"op": "compare_lower", "row": good, "column": "单价"},
            "total_diff": {"op": "abs_diff", "label": "合计"},
        },
    )
    return doc, [_draw_receipt(a), _draw_receipt(b)]


def _table(rng: random.Random, n: int) -> tuple[Document, list[Any]]:
    cities = rng.sample(CITIES, 4)
    quarters = ["Q1", "Q2", "Q3", "Q4"]
    values = {c: {q: rng.randint(100, 999) for q in quarters} for c in cities}
    width, row = 640, 44
    page = Page(width, 120 + row * (len(cities) + 1))
    img, d, text = page.image, page.draw, page.text_at
    text((width // 2, 20), "2026年各城市季度销售额（万元）", 24, "ma")
    cols = [30, 170, 280, 390, 500]
    y = 80
    for x, head in zip(cols, ["城市", *quarters], strict=True):
        text((x, y), head, 20)
    d.line((20, y + 32, width - 20, y + 32), fill="black", width=1)
    for c in cities:
        y += row
        for x, val in zip(cols, [c, *(str(values[c][q]) for q in quarters)], strict=True):
            text((x, y), val, 20)
    ask_city, ask_q = rng.choice(cities), rng.choice(quarters)
    best_q = rng.choice(quarters)
    best = max(cities, key=lambda c: values[c][best_q])
    doc = Document(
        id=f"table_{n}",
        kind="table",
        images=[],
        questions={
            "cell": f"{ask_city}{ask_q}的销售额是多少（万元）？",
            "best_city": f"Which city has the highest {best_q} sales? Answer with the city name as printed.",
        },
        truth={"cell": values[ask_city][ask_q], "best_city": best},
        types={"cell": "number", "best_city": "string"},
        langs={"cell": "zh", "best_city": "en"},
        ocr_rules={
            "cell": {"op": "table_cell", "row": ask_city, "column": ask_q},
            "best_city": {"op": "table_argmax", "column": best_q},
        },
    )
    return doc, [img]


def _chart(rng: random.Random, n: int) -> tuple[Document, list[Any]]:
    months = [f"{m}月" for m in range(1, 7)]
    values = rng.sample(range(20, 96), len(months))
    width, height, base = 640, 420, 360
    page = Page(width, height)
    img, d, text = page.image, page.draw, page.text_at
    text((width // 2, 16), "月度订单量 Monthly orders", 22, "ma")
    d.line((50, base, width - 20, base), fill="black", width=2)
    slot = (width - 90) // len(months)
    for i, (m, v) in enumerate(zip(months, values, strict=True)):
        x0 = 70 + i * slot
        top = base - int(v * 2.8)
        d.rectangle((x0, top, x0 + slot - 30, base), fill=(70, 130, 180))
        cx = x0 + (slot - 30) // 2
        text((cx, top - 6), str(v), 16, "ms")
        text((cx, base + 10), m, 16, "ma")
    ask = rng.choice(months)
    doc = Document(
        id=f"chart_{n}",
        kind="chart",
        images=[],
        questions={
            "best_month": "Which month has the most orders? Answer with the label as printed (e.g. 3月).",
            "month_value": f"{ask}的订单量是多少？",
        },
        truth={"best_month": months[values.index(max(values))], "month_value": values[months.index(ask)]},
        types={"best_month": "string", "month_value": "number"},
        langs={"best_month": "en", "month_value": "zh"},
        ocr_rules={"best_month": {"op": "chart_argmax"}, "month_value": {"op": "chart_value", "label": ask}},
    )
    return doc, [img]


def _form(rng: random.Random, n: int) -> tuple[Document, list[Any]]:
    values = {
        "name": rng.choice(NAMES),
        "phone": f"1{rng.randint(30, 89)}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
        "dob": f"{rng.randint(1965, 2002)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "department": rng.choice(DEPARTMENTS),
    }
    labels = {
        "name": "姓名 Name",
        "phone": "电话 Phone",
        "dob": "出生日期 Date of birth",
        "department": "部门 Department",
    }
    width = 640
    page = Page(width, 120 + 56 * len(labels))
    img, d, text = page.image, page.draw, page.text_at
    text((width // 2, 20), "入职登记表 Employee Registration Form", 24, "ma")
    y = 84
    for key, label in labels.items():
        d.rectangle((24, y - 8, width - 24, y + 40), outline="black", width=1)
        text((36, y + 4), f"{label}:", 18)
        text((330, y + 4), values[key], 18)
        y += 56
    doc = Document(
        id=f"form_{n}",
        kind="form",
        images=[],
        questions={
            "name": "申请人的姓名是什么？",
            "phone": "What is the phone number? Answer as printed.",
            "dob": "What is the date of birth (YYYY-MM-DD)?",
            "department": "申请人所在部门是哪个？",
        },
        truth=values,
        types=dict.fromkeys(values, "string"),
        langs={"name": "zh", "phone": "en", "dob": "en", "department": "zh"},
        ocr_rules={k: {"op": "value", "label": labels[k].split(" ", 1)[1]} for k in values},
    )
    return doc, [img]


PLAN = [(_receipt, 3), (_table, 2), (_chart, 2), (_form, 2), (_receipt_pair, 2)]  # generator, how many


def generate_vqa(seed: int = SEED) -> list[tuple[Document, list[Any]]]:
    """The VQA documents and their PIL images, in memory (deterministic for a seed)."""
    rng = random.Random(seed)
    return [make(rng, n) for make, count in PLAN for n in range(1, count + 1)]


def vqa_dir() -> Path:
    return CACHE_DIR / "documents" / "vqa"


def _fingerprint(seed: int) -> str:
    """Seed + this module's source: any edit to the generators rebuilds the set."""
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return hashlib.sha256(f"{seed}-{source}".encode()).hexdigest()[:16]


def build_vqa_set(dest: Path | None = None, seed: int = SEED, force: bool = False) -> Path:
    """Write the VQA set (PNGs + ground_truth.json) under .cache/documents/vqa, or reuse a current one.

    Example:
        >>> (build_vqa_set() / "ground_truth.json").exists()
        True
    """
    dest = Path(dest) if dest else vqa_dir()
    gt = dest / GROUND_TRUTH
    fingerprint = _fingerprint(seed)
    if not force and gt.is_file():
        try:
            if json.loads(gt.read_text(encoding="utf-8"))["meta"].get("fingerprint") == fingerprint:
                return dest
        except (json.JSONDecodeError, KeyError):
            pass
    meta = {
        "name": "vqa",
        "seed": seed,
        "fingerprint": fingerprint,
        "synthetic": True,
        "font": "Noto Sans CJK SC (SIL OFL, from mplfonts)",
    }
    return write_document_set(dest, generate_vqa(seed), meta)


def vqa_documents(seed: int = SEED) -> list[Document]:
    """Build (or reuse) the VQA set and load it."""
    return load_documents(build_vqa_set(seed=seed))
