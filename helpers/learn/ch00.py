"""Exercises of chapter 00 (environment and the embedded model): resolve, count and measure, on this machine.

Example:
    >>> from helpers.learn.registry import exercises
    >>> [e.id for e in exercises("00")]
    ['00.1', '00.2', '00.3', '00.4']
"""

from __future__ import annotations

from .judges import number, sequence, text
from .registry import exercise

NB = "00 · Environment and the embedded model"


@exercise(
    "00.1",
    "A phone photo is 1000×333 pixels. To what (width, height) does the Qwen3-VL image processor resize it, "
    "with its default pixel limits? Answer as a tuple `(width, height)`.",
    f"{NB}, 'The popular advice, executed' and the summary (no fixed 448×448)",
    sequence(),
    "The processor keeps the aspect ratio and rounds each side to a multiple of 32 (16-px patches merged "
    "2×2): "
    "{reference}. Compute it with `helpers.estimate.vision_tokens.resized_size(1000, 333)`.",
    answer_form="a (width, height) tuple",
)
def _photo_resized() -> tuple[int, int]:
    from helpers.estimate.vision_tokens import resized_size

    return resized_size(1000, 333)


@exercise(
    "00.2",
    "The chapter loads the tiny MoE fixture. How many parameters does its sibling `tiny-dense` have in "
    "total?",
    f"{NB}, 'The fixtures on disk'",
    number(),
    "`census('tiny-dense').total_params` counts them on the meta device: {reference}. The dense sibling has "
    "the "
    "Qwen3-VL (qwen3_vl) architecture with plain MLPs instead of experts.",
)
def _tiny_dense_params() -> int:
    from helpers.estimate.census import census

    return census("tiny-dense").total_params


@exercise(
    "00.3",
    "Which `model_type` does `select_model('tiny-dense')` resolve to (the string in its config)?",
    f"{NB}, 'The model setting'",
    text(),
    "The config at `select_model('tiny-dense').config_path` says model_type {reference}: the dense "
    "architecture, loaded with the same AutoModelForImageTextToText as the MoE.",
    answer_form="a string",
)
def _tiny_dense_type() -> str:
    from helpers.core.model import model_config

    return model_config("tiny-dense")["model_type"]


@exercise(
    "00.4",
    "How much memory (RAM) does THIS machine have, in GiB (within 2%)? The check measures it on your "
    "machine.",
    f"{NB}, 'This machine'",
    number(rel_tol=0.02),
    "psutil reports {reference} GiB of RAM here (`psutil.virtual_memory().total / 2**30`); the environment "
    "report of the chapter shows the same figure.",
)
def _ram_gib() -> float:
    import psutil

    return psutil.virtual_memory().total / 2**30
