"""Split a multi-page document to fit a token and memory budget, and say what each strategy costs.

Costs come from the memory engineer's helpers: `helpers.estimate.vision_tokens.visual_tokens` (the processor's
own resize rule) and `helpers.estimate.memory.estimate_peak_memory` (weights + KV cache + activations +
overhead). Strategies:

* ``all_pages``       – every page in one request (simple; the most tokens and memory);
* ``needed_pages``    – only the pages an answer needs, kept together in one request;
* ``page_by_page``    – one request per page, answers combined afterwards (`combine_answers`);
* ``all_downscaled``  – every page in one request, with the largest ``max_pixels`` that fits.

Example:
    >>> budget = Budget(max_visual_tokens=2500, text_tokens=512, device="cpu")
    >>> plan = plan_needed_pages("tiny", [(1000, 1100)] * 5, [0, 3], budget)
    >>> plan.requests[0].pages, plan.requests[0].visual_tokens, plan.fits
    ([0, 3], [1054, 1054], True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.cases.evaluation import normalize_text
from helpers.core.units import GIB
from helpers.estimate.memory import estimate_peak_memory
from helpers.infer.inputs import BudgetError  # also raised here when the pages cannot be made to fit

MIN_PAGE_PIXELS = 256 * 256  # below this, printed figures are unreadable: refuse rather than shrink further


@dataclass(frozen=True)
class Budget:
    """Per-request limits: visual tokens, predicted peak bytes (None = no limit), prompt + answer tokens."""

    max_visual_tokens: int | None = None
    max_peak_bytes: int | None = None
    text_tokens: int = 1024
    device: str = "cuda"
    dtype: str = "bfloat16"


@dataclass
class Request:
    """One model call: which pages, at which max_pixels, its visual tokens and predicted peak memory."""

    pages: list[int]
    visual_tokens: list[int]
    peak_bytes: int
    kv_and_activation_bytes: int
    max_pixels: int | None = None
    fits: bool = True

    @property
    def total_visual_tokens(self) -> int:
        return sum(self.visual_tokens)


@dataclass
class Plan:
    """A strategy's requests; `fits` when every request is within the budget."""

    strategy: str
    requests: list[Request] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return all(r.fits for r in self.requests)

    @property
    def total_visual_tokens(self) -> int:
        return sum(r.total_visual_tokens for r in self.requests)

    @property
    def peak_bytes(self) -> int:
        return max((r.peak_bytes for r in self.requests), default=0)

    def row(self) -> dict[str, Any]:
        """One row for a comparison table."""
        return {
            "strategy": self.strategy,
            "requests": len(self.requests),
            "pages per request": " | ".join(",".join(str(p + 1) for p in r.pages) for r in self.requests),
            "visual tokens (sum)": self.total_visual_tokens,
            "largest request (tokens)": max((r.total_visual_tokens for r in self.requests), default=0),
            "predicted peak GiB": round(self.peak_bytes / GIB, 3),
            "KV+activations GiB (largest)": round(
                max((r.kv_and_activation_bytes for r in self.requests), default=0) / GIB, 3
            ),
            "max_pixels": self.requests[0].max_pixels if self.requests else None,
            "fits": self.fits,
        }


def request_cost(
    config: Any, sizes: list[tuple[int, int]], pages: list[int], budget: Budget, max_pixels: int | None = None
) -> Request:
    """Visual tokens and predicted peak of one request holding `pages` (indices into `sizes`)."""
    if not pages:
        raise BudgetError("a request needs at least one page")
    chosen = [sizes[p] for p in pages]
    est = estimate_peak_memory(
        config,
        dtype=budget.dtype,
        context_tokens=budget.text_tokens,
        images=chosen,
        max_pixels=max_pixels,
        device=budget.device,
    )
    vis = list(est.visual_tokens)
    fits = (budget.max_visual_tokens is None or sum(vis) <= budget.max_visual_tokens) and (
        budget.max_peak_bytes is None or est.peak_bytes <= budget.max_peak_bytes
    )
    return Request(
        list(pages), vis, est.peak_bytes, est.kv_cache_bytes + est.activation_bytes, max_pixels, fits
    )


def plan_all_pages(config: Any, sizes: list[tuple[int, int]], budget: Budget) -> Plan:
    """Every page in one request, at full resolution."""
    return Plan("all_pages", [request_cost(config, sizes, list(range(len(sizes))), budget)])


def plan_needed_pages(config: Any, sizes: list[tuple[int, int]], needed: list[int], budget: Budget) -> Plan:
    """Only the pages the answer needs, together in one request (downscaled if that is what it takes)."""
    pages = sorted(set(needed))
    if any(not 0 <= p < len(sizes) for p in pages):
        raise BudgetError(f"pages {needed} are not all in a {len(sizes)}-page document (pages count from 0)")
    req = request_cost(config, sizes, pages, budget)
    if not req.fits:
        req = request_cost(config, sizes, pages, budget, fit_max_pixels(config, sizes, pages, budget))
    return Plan("needed_pages", [req])


def plan_page_by_page(config: Any, sizes: list[tuple[int, int]], budget: Budget) -> Plan:
    """One request per page; combine the answers afterwards."""
    return Plan("page_by_page", [request_cost(config, sizes, [p], budget) for p in range(len(sizes))])


def plan_all_downscaled(config: Any, sizes: list[tuple[int, int]], budget: Budget) -> Plan:
    """Every page in one request, each shrunk to the largest max_pixels that fits the budget."""
    pages = list(range(len(sizes)))
    return Plan(
        "all_downscaled",
        [request_cost(config, sizes, pages, budget, fit_max_pixels(config, sizes, pages, budget))],
    )


def fit_max_pixels(config: Any, sizes: list[tuple[int, int]], pages: list[int], budget: Budget) -> int:
    """The largest per-image max_pixels (a multiple of 32×32) at which `pages` fit in one request.

    Raises `BudgetError` when even MIN_PAGE_PIXELS per page does not fit: split the request instead.
    """
    block = 32 * 32
    hi = max(w * h for w, h in (sizes[p] for p in pages)) // block
    lo = MIN_PAGE_PIXELS // block
    if not request_cost(config, sizes, pages, budget, lo * block).fits:
        raise BudgetError(
            f"pages {[p + 1 for p in pages]} do not fit the budget even at {MIN_PAGE_PIXELS:,} "
            "pixels per page: "
            "raise the budget or ask page by page"
        )
    while lo < hi:  # binary search on the block count
        mid = (lo + hi + 1) // 2
        if request_cost(config, sizes, pages, budget, mid * block).fits:
            lo = mid
        else:
            hi = mid - 1
    return lo * block


def compare_strategies(
    config: Any, sizes: list[tuple[int, int]], needed: list[int], budget: Budget
) -> list[Plan]:
    """The four strategies for one question, side by side (a strategy that cannot fit is left out)."""
    plans = [plan_all_pages(config, sizes, budget)]
    for make in (
        lambda: plan_needed_pages(config, sizes, needed, budget),
        lambda: plan_page_by_page(config, sizes, budget),
        lambda: plan_all_downscaled(config, sizes, budget),
    ):
        try:
            plans.append(make())
        except BudgetError:
            continue
    return plans


@dataclass
class Combined:
    """Per-field answers merged from several requests, and the fields where pages disagreed."""

    value: dict[str, Any]
    source: dict[str, int]
    conflicts: dict[str, list[Any]]


def combine_answers(answers: list[dict[str, Any] | None]) -> Combined:
    """Merge page-by-page JSON answers: the first non-empty value per field wins; disagreements are kept.

    Example:
        >>> c = combine_answers([{"a": 1, "b": None}, {"b": 2, "a": 3}])
        >>> c.value, c.conflicts
        ({'a': 1, 'b': 2}, {'a': [1, 3]})
    """
    value: dict[str, Any] = {}
    source: dict[str, int] = {}
    seen: dict[str, list[Any]] = {}
    for i, ans in enumerate(answers):
        for k, v in (ans or {}).items():
            if v is None or v == "":
                continue
            seen.setdefault(k, []).append(v)
            if k not in value:
                value[k], source[k] = v, i
    conflicts = {k: vs for k, vs in seen.items() if len({normalize_text(v) for v in vs}) > 1}
    return Combined(value, source, conflicts)
