"""Generation settings in one place: Qwen's recommended sampling per variant, greedy for scoring, a repetition
guard, and stripping a Thinking model's reasoning block before JSON parsing.

Recommended settings (the model cards' "Generation Hyperparameters", VL section):
- Instruct (Qwen/Qwen3-VL-*-Instruct, e.g. Qwen3-VL-30B-A3B-Instruct): ``greedy='false' top_p=0.8 top_k=20
  temperature=0.7 repetition_penalty=1.0 presence_penalty=1.5 out_seq_length=16384``.
- Thinking (Qwen/Qwen3-VL-*-Thinking): ``top_p=0.95 top_k=20 temperature=1.0 repetition_penalty=1.0
  presence_penalty=0.0 out_seq_length=40960``.
The workbook's scoring runs stay GREEDY (``do_sample=False``, temperature 0 over HTTP): a score must not
change from run to run, and the tiny fixture's random weights would make sampled answers meaningless anyway.

Transformers' `generate` has no ``presence_penalty``; `presence_processor` adds it as a logits processor
(the OpenAI definition: subtract the penalty once from every token already generated). Over HTTP the
settings go in the request body (``top_k`` and ``repetition_penalty`` are extensions vLLM and SGLang accept).

Example:
    >>> recommended("Qwen/Qwen3-VL-30B-A3B-Thinking").temperature
    1.0
    >>> find_loop("The total is 12. " + "and then " * 12)["repeats"] >= 4
    True
    >>> strip_reasoning('<think>The total is on the last line.</think>{"total": 12}')
    ('{"total": 12}', 'The total is on the last line.')
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

INSTRUCT_SOURCE = (
    "Qwen3-VL Instruct model cards, 'Generation Hyperparameters' (VL): greedy='false' top_p=0.8 top_k=20 "
    "temperature=0.7 repetition_penalty=1.0 presence_penalty=1.5 out_seq_length=16384 (quoted from the "
    "Qwen/Qwen3-VL-4B-Instruct card in huggingface.co/Comfy-Org/Krea-2/discussions/8; the same table is on "
    "every Qwen3-VL Instruct card; unsloth.ai/docs Qwen3-VL guide: Temperature 0.7, Top_P 0.8, presence 1.5)"
)
THINKING_SOURCE = (
    "Qwen3-VL Thinking model cards, 'Generation Hyperparameters' (VL): top_p=0.95 top_k=20 temperature=1.0 "
    "repetition_penalty=1.0 presence_penalty=0.0 (qwenlm-qwen3-vl.mintlify.app/api/generation: 'Thinking "
    "models: 0.95', presence 'Thinking models: 0.0'; unsloth.ai/docs Qwen3-VL guide: Temperature 1.0, Top_P "
    "0.95); out_seq_length=40960 as we recall the card, not confirmed by a stored copy"
)


@dataclass(frozen=True)
class Sampling:
    """One set of generation settings and where it comes from."""

    name: str
    do_sample: bool
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    presence_penalty: float
    max_new_tokens: int
    source: str
    guard: bool = True  # stop and flag an n-gram loop

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


INSTRUCT = Sampling("instruct", True, 0.7, 0.8, 20, 1.0, 1.5, 16384, INSTRUCT_SOURCE)
THINKING = Sampling("thinking", True, 1.0, 0.95, 20, 1.0, 0.0, 40960, THINKING_SOURCE)
GREEDY = Sampling(
    "greedy (scoring)",
    False,
    0.0,
    1.0,
    0,
    1.0,
    0.0,
    512,
    "workbook: scoring runs must be reproducible",
    False,
)


def recommended(model: str) -> Sampling:
    """Qwen's settings for a model id or folder name: Thinking if its name says so, else Instruct.

    Example:
        >>> recommended("Qwen/Qwen3-VL-30B-A3B-Instruct").presence_penalty
        1.5
    """
    return THINKING if "thinking" in str(model).lower() else INSTRUCT


def generate_kwargs(s: Sampling, prompt_len: int = 0) -> dict[str, Any]:
    """Keyword arguments for Transformers' `generate` (presence penalty as a logits processor).

    Example:
        >>> sorted(generate_kwargs(GREEDY))
        ['do_sample']
    """
    if not s.do_sample:
        return {"do_sample": False}
    out: dict[str, Any] = {
        "do_sample": True,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,
        "repetition_penalty": s.repetition_penalty,
    }
    if s.presence_penalty:
        out["logits_processor"] = [presence_processor(s.presence_penalty, prompt_len)]
    return out


def openai_params(s: Sampling) -> dict[str, Any]:
    """The same settings as fields of an OpenAI-compatible /chat/completions body.

    Example:
        >>> openai_params(GREEDY)
        {'temperature': 0.0}
    """
    if not s.do_sample:
        return {"temperature": 0.0}
    return {
        "temperature": s.temperature,
        "top_p": s.top_p,
        "presence_penalty": s.presence_penalty,
        "top_k": s.top_k,
        "repetition_penalty": s.repetition_penalty,
    }


def presence_processor(penalty: float, prompt_len: int):
    """A LogitsProcessor subtracting `penalty` from every token generated so far (not the prompt's)."""
    from transformers import LogitsProcessor

    class PresencePenalty(LogitsProcessor):
        def __call__(self, input_ids, scores):
            generated = input_ids[:, prompt_len:]
            if generated.shape[1]:
                seen = scores.new_zeros(scores.shape).scatter_(1, generated, 1.0)
                scores = scores - penalty * seen
            return scores

    return PresencePenalty()


_UNITS = re.compile(
    r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]|[^\s\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+\s*|\s+"
)


def find_loop(text: str, min_repeats: int = 4, max_period: int = 60) -> dict[str, Any] | None:
    """The first span where one chunk (1–`max_period` words, or characters for CJK) repeats at least
    `min_repeats` times in a row; None when there is none.

    Example:
        >>> find_loop("a b c d e f") is None
        True
        >>> find_loop("合计合计合计合计合计")["unit"]
        '合计'
    """
    units = _UNITS.findall(text)  # words (with their trailing space) and single CJK characters
    best = None
    for period in range(1, min(max_period, len(units) // min_repeats) + 1):
        i = 0
        while i + period * min_repeats <= len(units):
            chunk = units[i : i + period]
            k = 1
            while units[i + k * period : i + (k + 1) * period] == chunk:
                k += 1
            if k >= min_repeats and (best is None or i < best[0]):
                best = (i, period, k)
                break
            i += 1
    if best is None:
        return None
    i, period, k = best
    start = len("".join(units[:i]))
    return {"start": start, "unit": "".join(units[i : i + period]), "repeats": k}


def guard_repetition(text: str, min_repeats: int = 4) -> tuple[str, bool]:
    """Cut an answer after the first copy of a looping chunk; (text, looped). A flagged answer must not be
    scored as if the model had finished.

    Example:
        >>> guard_repetition("Total: 12. Total: 12. Total: 12. Total: 12. Total: 12.")
        ('Total: 12. ', True)
    """
    loop = find_loop(text, min_repeats)
    if loop is None:
        return text, False
    return text[: loop["start"]] + loop["unit"], True


def repetition_stopper(prompt_len: int, min_repeats: int = 6, max_period: int = 16):
    """A StoppingCriteria ending `generate` once the new tokens end in `min_repeats` copies of one n-gram."""
    import torch
    from transformers import StoppingCriteria

    class RepetitionStop(StoppingCriteria):
        triggered = False

        def __call__(self, input_ids, scores, **kwargs):
            done = []
            for row in input_ids[:, prompt_len:].tolist():
                hit = False
                for n in range(1, max_period + 1):
                    tail = row[-n * min_repeats :]
                    if len(tail) == n * min_repeats and tail == tail[:n] * min_repeats:
                        hit = True
                        break
                done.append(hit)
            RepetitionStop.triggered |= any(done)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return RepetitionStop()


_THINK = re.compile(r"<think>(.*?)</think>", re.S)


def strip_reasoning(text: str) -> tuple[str, str]:
    """(answer, reasoning): remove a ``<think>…</think>`` block, or everything up to a lone ``</think>``
    (the Thinking template opens ``<think>`` in the prompt, so the reply often starts inside it).

    Example:
        >>> strip_reasoning("look at row 3</think>\\n\\n{\\"a\\": 1}")
        ('{"a": 1}', 'look at row 3')
    """
    m = _THINK.search(text)
    if m:
        return (text[: m.start()] + text[m.end() :]).strip(), m[1].strip()
    if "</think>" in text:
        head, _, tail = text.partition("</think>")
        return tail.strip(), head.strip()
    return text.strip(), ""
