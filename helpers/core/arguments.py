"""Number types for every `qwen3vl` option: plain ASCII digits, nothing around them.

Python's `int` and `float` also accept other scripts' digits ('١٢') and surrounding spaces (' 5 '); an option
should take what a user means to type, and refuse the rest with one argparse line (exit 2).

Example:
    >>> ascii_int("64"), ascii_float("2.5")
    (64, 2.5)
"""

from __future__ import annotations

import argparse
import re

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def ascii_int(text: str) -> int:
    """argparse type: a whole number in the digits 0-9.

    Example:
        >>> ascii_int("-3")
        -3
    """
    if not _INT.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (use the digits 0-9)")
    return int(text)


def ascii_float(text: str) -> float:
    """argparse type: a finite decimal number in the digits 0-9 (no nan, no inf).

    Example:
        >>> ascii_float("1e3")
        1000.0
    """
    if not _FLOAT.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use the digits 0-9)")
    return float(text)
