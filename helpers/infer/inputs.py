"""Input preparation: pixel budgets and token counts before inference, Chinese punctuation, long text.

* `fit_to_budget` resizes an image exactly as the processor would for a min/max-pixel budget
  (Transformers' own `smart_resize`, via helpers.estimate.vision_tokens).
* `request_budget` says, before any inference, how many visual tokens each image adds, how many
  text tokens the prompt takes, and (from helpers.estimate.memory) what the request would need in memory.
* `normalize_punctuation` turns full-width letters/digits into ASCII but keeps Chinese punctuation
  (、，。：) — the Qwen tokenizer keeps 、 apart from "," (see `enumeration_comma_check`), and NFKC
  would silently turn "，" into ",".
* `split_to_budget` cuts a long text at sentence ends into chunks that each fit a token budget.

Example:
    >>> normalize_punctuation("合计：１２３元、ＡＢＣ，好。")
    '合计：123元、ABC，好。'
    >>> visual_tokens([(640, 480), (2480, 3508)], max_pixels=1024 * 1024)
    [300, 988]
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.estimate.vision_tokens import resized_size, visual_tokens

# Chinese punctuation that must survive normalisation (NFKC would map the full-width ones to ASCII).
CJK_PUNCT = set("、，。：；！？（）【】《》「」『』“”‘’—…·～")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=\.)(?=\s)")


class BudgetError(WorkbookError, ValueError):
    """A request cannot fit the budget it was given."""


def normalize_punctuation(text: str) -> str:
    """Full-width ASCII letters, digits and spaces to half-width; Chinese punctuation kept as written.

    Example:
        >>> normalize_punctuation("Ｑ３：苹果、香蕉")
        'Q3：苹果、香蕉'
    """
    out = []
    for ch in text:
        if ch in CJK_PUNCT:
            out.append(ch)
        elif ch == "\u3000":
            out.append(" ")
        elif "\uff01" <= ch <= "\uff5e" and unicodedata.normalize("NFKC", ch).isalnum():
            out.append(unicodedata.normalize("NFKC", ch))
        else:
            out.append(ch)
    return "".join(out)


def enumeration_comma_check(tokenizer: Any) -> dict[str, Any]:
    """Claim j ("some tokenizers read 、 as an English comma"): what the given tokenizer really does.

    Returns the ids of 、, "," and "，" in context, whether 、 round-trips, and whether it ever
    shares an id with ",". Example (the real Qwen tokenizer):
        >>> from helpers.core.fixtures import build_processor
        >>> enumeration_comma_check(build_processor().tokenizer)["same_as_ascii_comma"]
        False
    """
    samples = {"、": "苹果、香蕉、牛奶", ",": "苹果,香蕉,牛奶", "，": "苹果，香蕉，牛奶"}
    ids = {k: tokenizer.encode(v, add_special_tokens=False) for k, v in samples.items()}
    alone = {k: tokenizer.encode(k, add_special_tokens=False) for k in samples}
    return {
        "ids_alone": alone,
        "ids_in_context": ids,
        "round_trips": all(tokenizer.decode(ids[k]) == samples[k] for k in samples),
        "same_as_ascii_comma": ids["、"] == ids[","] or alone["、"] == alone[","],
        "nfkc_changes_chinese_comma": unicodedata.normalize("NFKC", "，") == ",",
        "nfkc_keeps_enumeration_comma": unicodedata.normalize("NFKC", "、") == "、",
    }


def fit_to_budget(image: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> Any:
    """The image resized to what the processor would make of it under this pixel budget.

    Example:
        >>> from PIL import Image
        >>> fit_to_budget(Image.new("RGB", (1000, 1000)), max_pixels=256 * 256).size
        (256, 256)
    """
    w, h = resized_size(image.width, image.height, min_pixels, max_pixels)
    return image if (w, h) == image.size else image.resize((w, h))


@dataclass
class RequestBudget:
    """What one request costs, known before inference."""

    image_sizes: list[tuple[int, int]]
    resized: list[tuple[int, int]]
    visual_tokens: list[int]
    text_tokens: int
    max_new_tokens: int
    memory: Any = None  # helpers.estimate.memory.MemoryEstimate, when a config was given
    notes: list[str] = field(default_factory=list)

    @property
    def prompt_tokens(self) -> int:
        return self.text_tokens + sum(self.visual_tokens)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.max_new_tokens

    def rows(self) -> list[dict[str, Any]]:
        """One row per image, for a table."""
        return [
            {"image": n, "size": f"{w}x{h}", "resized": f"{rw}x{rh}", "visual_tokens": t}
            for n, ((w, h), (rw, rh), t) in enumerate(
                zip(self.image_sizes, self.resized, self.visual_tokens, strict=True)
            )
        ]


def text_tokens(tokenizer: Any, n_images: int, prompt: str) -> int:
    """Tokens of the chat-templated prompt, not counting the visual tokens (each image's
    ``<|vision_start|><|image_pad|><|vision_end|>`` counts 2 here; the pad becomes the visual tokens)."""
    from helpers.core.chat import chat_messages

    text = tokenizer.apply_chat_template(
        chat_messages([None] * n_images, prompt), tokenize=False, add_generation_prompt=True
    )
    return len(tokenizer.encode(text, add_special_tokens=False)) - n_images


def request_budget(
    tokenizer: Any,
    image_sizes: list[tuple[int, int]],
    prompt: str,
    max_new_tokens: int = 64,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    config: Any = None,
    dtype: str = "bfloat16",
    max_tokens: int | None = None,
    device: str = "cuda",
) -> RequestBudget:
    """Tokens (and, with `config`, memory) of one request, before running it.

    `config` is anything helpers.estimate.memory accepts (a config path, "tiny", a dict). With `max_tokens`,
    a request over budget raises BudgetError saying how to shrink it.
    """
    resized = [resized_size(w, h, min_pixels, max_pixels) for w, h in image_sizes]
    vis = visual_tokens(list(image_sizes), min_pixels=min_pixels, max_pixels=max_pixels)
    budget = RequestBudget(
        list(image_sizes), resized, vis, text_tokens(tokenizer, len(image_sizes), prompt), max_new_tokens
    )
    if config is not None:
        from helpers.estimate.memory import estimate_peak_memory

        budget.memory = estimate_peak_memory(
            config,
            dtype=dtype,
            context_tokens=budget.text_tokens + max_new_tokens,
            images=list(image_sizes),
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            device=device,
        )
    if max_tokens is not None and budget.total_tokens > max_tokens:
        raise BudgetError(
            f"the request needs {budget.total_tokens:,} tokens ({sum(vis):,} visual) "
            f"but the budget is {max_tokens:,}: "
            "lower max_pixels, send fewer images, or split the text with split_to_budget"
        )
    return budget


def split_to_budget(text: str, tokenizer: Any, max_tokens: int) -> list[str]:
    """Cut `text` into chunks of at most `max_tokens` tokens, at sentence ends where possible.

    Joining the chunks gives the text back unchanged.

    Example:
        >>> from helpers.core.fixtures import build_processor
        >>> tok = build_processor().tokenizer
        >>> chunks = split_to_budget("第一句。第二句。第三句。", tok, 4)
        >>> "".join(chunks), len(chunks)
        ('第一句。第二句。第三句。', 3)
    """
    if max_tokens < 1:
        raise BudgetError(f"max_tokens={max_tokens}: give a positive token budget")

    def count(s: str) -> int:
        return len(tokenizer.encode(s, add_special_tokens=False))

    pieces = [p for p in _SENTENCE_END.split(text) if p]
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if count(piece) > max_tokens:  # one sentence too long: cut it by tokens
            if current:
                chunks.append(current)
                current = ""
            ids = tokenizer.encode(piece, add_special_tokens=False)
            chunks += _cut_ids(tokenizer, ids, piece, max_tokens)
        elif count(current + piece) <= max_tokens:
            current += piece
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _cut_ids(tokenizer: Any, ids: list[int], piece: str, max_tokens: int) -> list[str]:
    """Cut by token windows, moving each cut back until the chunk decodes cleanly (no split character)."""
    out, start, consumed = [], 0, 0
    while start < len(ids):
        end = min(start + max_tokens, len(ids))
        while end > start + 1 and not piece[consumed:].startswith(tokenizer.decode(ids[start:end])):
            end -= 1
        chunk = tokenizer.decode(ids[start:end])
        if not piece[consumed:].startswith(chunk):  # a single token that is part of a character
            chunk = piece[consumed : consumed + 1]
        out.append(chunk)
        consumed += len(chunk)
        start = end
    if consumed < len(piece):
        out[-1] += piece[consumed:]
    return out
