"""A synthetic video with ground truth: a slideshow of words with a seconds counter, and a red ALERT box that
appears at a known second. Questions about what and when, scored; a per-frame OCR baseline.

The clip is numpy frames plus their VideoMetadata (no decoder). Every fact a question asks is known by
construction: the word on screen at any second, the second the ALERT box first shows, how many words
there are.

Example:
    >>> clip = make_clip()
    >>> clip.frames.shape, clip.truth["alert_second"], clip.word_at(5.0)
    ((48, 270, 480, 3), 7.0, 'RIVER')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

WORDS = ["APPLE", "HARBOR", "RIVER", "TIGER", "CANDLE", "ORBIT"]
QUESTIONS = {
    "word_at_5s": "Which word is shown at second 5 of the video? Answer with the word only.",
    "alert_second": "At which second does the red ALERT box first appear? Answer with a number of seconds.",
    "word_count": "How many different words are shown in the video? Answer with a number.",
}


@dataclass
class Clip:
    """Frames [n, H, W, 3] uint8, their metadata, the slide length and the ground truth."""

    frames: Any
    metadata: Any
    fps: float
    slide_seconds: float
    alert_second: float
    words: list[str] = field(default_factory=list)

    def word_at(self, second: float) -> str:
        return self.words[min(int(second // self.slide_seconds), len(self.words) - 1)]

    @property
    def truth(self) -> dict[str, Any]:
        return {
            "word_at_5s": self.word_at(5.0),
            "alert_second": self.alert_second,
            "word_count": len(set(self.words)),
        }


def make_clip(
    fps: float = 4.0,
    slide_seconds: float = 2.0,
    alert_second: float = 7.0,
    size: tuple[int, int] = (480, 270),
) -> Clip:
    """The slideshow: one word per `slide_seconds`, a counter in the corner, ALERT from `alert_second` on."""
    import numpy as np
    from PIL import Image, ImageDraw
    from transformers.video_utils import VideoMetadata

    from helpers.core.fonts import cjk_font

    width, height = size
    n = int(round(len(WORDS) * slide_seconds * fps))
    big, small = cjk_font(56), cjk_font(22)

    def still(second: int) -> Any:  # a frame changes only once a second: draw each second once
        img = Image.new("RGB", (width, height), "white")
        d = ImageDraw.Draw(img)
        d.text(
            (width // 2, height // 2),
            WORDS[int(second // slide_seconds)],
            font=big,
            fill="black",
            anchor="mm",
        )
        d.text((12, 10), f"{second:02d} s", font=small, fill="black")
        if second >= alert_second:
            d.rectangle((width - 150, 8, width - 10, 52), fill=(220, 20, 20))
            d.text((width - 80, 30), "ALERT", font=small, fill="white", anchor="mm")
        return np.asarray(img)

    stills = {s: still(s) for s in range(int((n - 1) / fps) + 1)}
    frames = np.stack([stills[int(i / fps)] for i in range(n)])
    meta = VideoMetadata(total_num_frames=n, fps=fps, width=width, height=height, duration=n / fps)
    return Clip(frames, meta, fps, slide_seconds, alert_second, list(WORDS))


def _number(text: str) -> float | None:
    m = re.search(r"-?\d+(?:\.\d+)?", text or "")
    return float(m[0]) if m else None


def score_answers(clip: Clip, answers: dict[str, str]) -> dict[str, float]:
    """1.0/0.0 per question: the word (case-insensitive, as a whole word); the second within 1 s (a temporal
    patch spans 1 s at the processor's 2 fps); the count exactly.

    Example:
        >>> clip = make_clip()
        >>> score_answers(clip, {"word_at_5s": "river", "alert_second": "about 7.5 s", "word_count": "5"})
        {'word_at_5s': 1.0, 'alert_second': 1.0, 'word_count': 0.0}
    """
    truth = clip.truth
    word = re.findall(r"[A-Za-z]+", answers.get("word_at_5s") or "")
    second = _number(answers.get("alert_second", ""))
    count = _number(answers.get("word_count", ""))
    return {
        "word_at_5s": float(truth["word_at_5s"] in {w.upper() for w in word}),
        "alert_second": float(second is not None and abs(second - truth["alert_second"]) <= 1.0),
        "word_count": float(count is not None and count == truth["word_count"]),
    }


def ocr_baseline(
    clip: Clip, every_seconds: float = 2.0, first_second: float = 1.0
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Per-frame OCR (rapidocr) on one frame every `every_seconds` from `first_second` (OCR is the slow part:
    about 1 s a frame here): answers by rules, and the per-frame reads. Its "when" is only as fine as the
    step.

    Rules: the word = the longest alphabetic line that is not ALERT on the frame nearest 5 s; the second = the
    time of the first frame whose text holds ALERT; the count = distinct words over all frames.
    """
    from PIL import Image

    from helpers.cases.ocr import ocr_lines

    step = max(1, int(round(every_seconds * clip.fps)))
    reads = []
    for i in range(int(round(first_second * clip.fps)), len(clip.frames), step):
        lines = [ln.text for ln in ocr_lines(Image.fromarray(clip.frames[i]))]
        words = [w for ln in lines for w in re.findall(r"[A-Z]{3,}", ln.upper()) if w != "ALERT"]
        reads.append(
            {"second": i / clip.fps, "text": " | ".join(lines), "word": max(words, key=len, default="")}
        )
    near5 = min(reads, key=lambda r: abs(r["second"] - 5.0))
    alert = next((r["second"] for r in reads if "ALERT" in r["text"].upper()), None)
    answers = {
        "word_at_5s": near5["word"],
        "alert_second": "" if alert is None else f"{alert:g}",
        "word_count": str(len({r["word"] for r in reads if r["word"]})),
    }
    return answers, reads


def video_prompt() -> str:
    """All three questions in one request, answered as one JSON object (one `generate` instead of three).

    Example:
        >>> "word_at_5s" in video_prompt()
        True
    """
    asks = "\n".join(f'- "{k}": {q}' for k, q in QUESTIONS.items())
    return f"Answer from the video as one JSON object with these keys:\n{asks}"


def answers_from_reply(reply: str) -> dict[str, str]:
    """The three answers of a JSON reply as strings ('' for a missing key or an unparsable reply).

    Example:
        >>> answers_from_reply('{"word_at_5s": "RIVER", "alert_second": 7}')["alert_second"]
        '7'
    """
    from helpers.infer.structured import parse_json_answer

    parsed = parse_json_answer(reply)
    value = parsed.value if parsed.ok and isinstance(parsed.value, dict) else {}
    return {k: "" if value.get(k) is None else str(value[k]) for k in QUESTIONS}
