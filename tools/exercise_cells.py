"""Authoring aid: append (or refresh) the self-check exercise cells at the very end of each chapter.

    python tools/exercise_cells.py            # every chapter that has exercises in helpers/learn

The cells come from the registry (helpers.learn): one markdown cell with the questions, one import cell,
then per exercise a code cell `answer_NN_K = None  # your answer` + `check("NN.K", answer_NN_K)`. Only the
trailing cells whose id starts with "ex-" are replaced; the chapter's body is never touched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.learn.registry import Exercise, exercises  # noqa: E402

INTRO = (
    "## Exercises: apply the chapter to a new case\n\n"
    "Write your answer in the cell under each question and run it. `check` says right or wrong, names the "
    "section to re-read when it is wrong, and explains after a right answer or three tries; "
    '`reveal("{first}")` (from `helpers.learn`) explains at once. The answers are computed by the helpers '
    "when you check, on this machine, never stored. `case(...)` gives an exercise's own material. "
    "Leave an answer as `None` to skip it; `qwen3vl progress` shows what you have done "
    "(a local file, nothing leaves the machine).\n"
)


def _cell(kind: str, cell_id: str, source: str) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def exercise_cells(chapter: str, items: list[Exercise]) -> list[dict]:
    """The cells for one chapter's exercises."""
    questions = "\n".join(f"**{ex.id}** {ex.question}\n" for ex in items)
    cells = [_cell("markdown", f"ex-{chapter}-questions", INTRO.format(first=items[0].id) + "\n" + questions)]
    names = ["check"] + (["case"] if any(ex.case for ex in items) else [])
    cells.append(
        _cell("code", f"ex-{chapter}-import", f"from helpers.learn import {', '.join(sorted(names))}")
    )
    for ex in items:
        var = ex.id.replace(".", "_")
        lines = []
        if ex.case is not None:
            lines.append(f'case_{var} = case("{ex.id}")  # this exercise\'s own material')
        lines += [f"answer_{var} = None  # your answer: {ex.answer_form}", f'check("{ex.id}", answer_{var})']
        cells.append(_cell("code", f"ex-{chapter}-{ex.id.split('.')[1]}", "\n".join(lines)))
    return cells


def update(path: Path, items: list[Exercise]) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    while cells and cells[-1].get("id", "").startswith("ex-"):
        cells.pop()
    cells += exercise_cells(items[0].chapter, items)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    for chapter in sorted({ex.chapter for ex in exercises()}):
        path = next((ROOT / "notebooks").glob(f"{chapter}_*.ipynb"))
        update(path, exercises(chapter))
        print(f"{path.name}: {len(exercises(chapter))} exercises")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
