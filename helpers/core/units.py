"""The one units module: bytes ↔ GiB/MiB, one byte formatter, tokens per second.

Binary units throughout (1 GiB = 2**30 bytes, 1 MiB = 2**20 bytes), as PyTorch and accelerate report them.

Example:
    >>> gib(3 * GIB), mib(512 * MIB), fmt_bytes(1536 * MIB)
    (3.0, 512.0, '1.50 GiB')
    >>> fmt_bytes(3 * MIB), fmt_bytes(512), tokens_per_s(64, 2.0)
    ('3.0 MiB', '512 B', 32.0)
"""

from __future__ import annotations

KIB = 2**10
MIB = 2**20
GIB = 2**30


def gib(n_bytes: float) -> float:
    """Bytes as GiB (a float).

    Example:
        >>> gib(2**31)
        2.0
    """
    return n_bytes / GIB


def mib(n_bytes: float) -> float:
    """Bytes as MiB (a float).

    Example:
        >>> mib(3 * 2**20)
        3.0
    """
    return n_bytes / MIB


def to_bytes(amount: float, unit: str = "GiB") -> int:
    """GiB or MiB (or B, KiB) back to whole bytes.

    Example:
        >>> to_bytes(1.5, "GiB")
        1610612736
    """
    scale = {"B": 1, "KiB": KIB, "MiB": MIB, "GiB": GIB}
    if unit not in scale:
        raise ValueError(f"unit {unit!r}: use one of {', '.join(scale)}")
    return int(round(amount * scale[unit]))


def fmt_bytes(n_bytes: float, unit: str | None = None, digits: int | None = None) -> str:
    """One formatter for every byte count the workbook prints.

    Without `unit`, picks GiB from 1 GiB up, MiB from 1 MiB up, else bytes; `digits` defaults to 2 for GiB
    and 1 for MiB.

    Example:
        >>> fmt_bytes(80 * GIB, digits=0), fmt_bytes(5 * MIB, "GiB", 3)
        ('80 GiB', '0.005 GiB')
    """
    if unit is None:
        unit = "GiB" if abs(n_bytes) >= GIB else "MiB" if abs(n_bytes) >= MIB else "B"
    if unit == "B":
        return f"{int(n_bytes)} B"
    value = n_bytes / {"KiB": KIB, "MiB": MIB, "GiB": GIB}[unit]
    places = digits if digits is not None else (2 if unit == "GiB" else 1)
    return f"{value:.{places}f} {unit}"


def fmt_gib(n_bytes: float, digits: int = 2) -> str:
    """`fmt_bytes` in GiB (usable inside f-strings without quotes).

    Example:
        >>> fmt_gib(3 * GIB, 1)
        '3.0 GiB'
    """
    return fmt_bytes(n_bytes, "GiB", digits)


def fmt_mib(n_bytes: float, digits: int = 1) -> str:
    """`fmt_bytes` in MiB.

    Example:
        >>> fmt_mib(3 * MIB)
        '3.0 MiB'
    """
    return fmt_bytes(n_bytes, "MiB", digits)


def tokens_per_s(tokens: int, seconds: float) -> float:
    """Throughput; 0.0 when no time was measured.

    Example:
        >>> tokens_per_s(10, 0.0)
        0.0
    """
    return tokens / seconds if seconds > 0 else 0.0
