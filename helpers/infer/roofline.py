"""The memory-bandwidth limit of decoding: bytes read per new token, and the tokens/s a bandwidth allows.

At small batch every decode step reads the weights it uses once, whatever the batch, plus each row's KV
cache. For the MoE that is everything but the experts (attention, router, norms, embeddings row, lm_head)
and, per layer, the experts the batch's tokens were routed to: k of E for one token, and for B tokens
routed uniformly at random E·(1 − (1 − k/E)^B) distinct ones in expectation (one token misses a given
expert with probability 1 − k/E). The vision tower is not
read during decode. The roofline is bandwidth / bytes per step × B tokens per step; no real kernel
reaches it, which is why every measured speed in chapter 05 is shown as a fraction of it.

Example:
    >>> round(expected_distinct_experts(128, 8, 1), 1), round(expected_distinct_experts(128, 8, 16), 1)
    (8.0, 82.4)
    >>> r = decode_bytes_per_step("Qwen/Qwen3-VL-30B-A3B-Instruct", batch=1, context_tokens=0)
    >>> round(r.weight_bytes / 2**30, 2)
    5.67
    >>> round(roofline_tokens_per_s("Qwen/Qwen3-VL-30B-A3B-Instruct", 4.8e12, batch=1, context_tokens=4096))
    740
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.hardware import load_profiles
from helpers.core.model import model_config
from helpers.estimate.census import DTYPE_BYTES, canonical_dtype, census
from helpers.estimate.memory import kv_bytes_per_token


def expected_distinct_experts(num_experts: int, top_k: int, tokens: int) -> float:
    """Expected number of distinct experts `tokens` tokens touch in one layer under uniform top-k routing.

    Example:
        >>> expected_distinct_experts(128, 8, 128) > 127
        True
    """
    if num_experts <= 0 or not 0 < top_k <= num_experts or tokens < 0:
        raise WorkbookError(
            f"experts {num_experts}, top-k {top_k}, tokens {tokens}: need 0 < k <= E, tokens >= 0"
        )
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


@dataclass
class DecodeBytes:
    """What one decode step reads: the shared weights, the experts touched, the KV cache (bytes)."""

    batch: int
    context_tokens: int
    shared_bytes: int
    expert_bytes: float
    kv_bytes: int
    distinct_experts_per_layer: float

    @property
    def weight_bytes(self) -> float:
        return self.shared_bytes + self.expert_bytes

    @property
    def total_bytes(self) -> float:
        return self.weight_bytes + self.kv_bytes

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "weight_bytes": self.weight_bytes, "total_bytes": self.total_bytes}

    def gib_row(self) -> dict[str, Any]:
        """Batch, distinct experts per layer, and each byte term in GiB (for tables)."""
        terms = {k: round(v / 2**30, 3) for k, v in self.as_dict().items() if k.endswith("_bytes")}
        return {
            "batch": self.batch,
            "distinct_experts_per_layer": round(self.distinct_experts_per_layer, 2),
            **terms,
        }


def decode_bytes_per_step(
    config: Any,
    batch: int = 1,
    context_tokens: int = 4096,
    dtype: str = "bfloat16",
    distinct_experts: float | None = None,
) -> DecodeBytes:
    """Bytes one decode step of `batch` rows reads, each row holding `context_tokens` in its KV cache.

    `distinct_experts` (per layer) overrides the uniform-routing expectation, e.g. with the count measured
    from the router (helpers.infer.speed.measured_distinct_experts).

    Example:
        >>> decode_bytes_per_step("tiny-dense", batch=4).expert_bytes
        0.0
    """
    if not isinstance(batch, int) or batch < 1:
        raise WorkbookError(f"batch {batch!r}: give a whole number of rows, at least 1")
    cfg = model_config(config)
    dtype = canonical_dtype(dtype)
    c = census(cfg)
    by_comp = c.bytes_by_component(dtype)
    t = cfg["text_config"]
    shared = sum(v for k, v in by_comp.items() if k not in ("vision", "experts", "embed_tokens", "scales"))
    if by_comp.get("lm_head", 0):
        shared += batch * t["hidden_size"] * 2  # one embedding row per token, not the whole table
    else:  # tied embeddings: the output projection reads the whole embedding table
        shared += by_comp["embed_tokens"]
    expert_bytes, distinct = 0.0, 0.0
    if t.get("num_experts"):
        E, k = t["num_experts"], t["num_experts_per_tok"]
        distinct = expected_distinct_experts(E, k, batch) if distinct_experts is None else distinct_experts
        expert_bytes = by_comp["experts"] * distinct / E
    kv = kv_bytes_per_token(cfg, "bfloat16" if DTYPE_BYTES[dtype] < 2 else dtype) * context_tokens * batch
    return DecodeBytes(batch, context_tokens, int(shared), expert_bytes, kv, distinct)


def roofline_tokens_per_s(
    config: Any,
    bandwidth_bytes_s: float,
    batch: int = 1,
    context_tokens: int = 4096,
    dtype: str = "bfloat16",
    distinct_experts: float | None = None,
) -> float:
    """Upper bound on decode tokens/s (all rows together) when every step is limited by memory bandwidth.

    Example:
        >>> roofline_tokens_per_s("tiny", 1e10) > 0
        True
    """
    if not bandwidth_bytes_s > 0:
        raise WorkbookError(f"bandwidth {bandwidth_bytes_s!r}: give a positive number of bytes per second")
    step = decode_bytes_per_step(config, batch, context_tokens, dtype, distinct_experts)
    return batch * bandwidth_bytes_s / step.total_bytes


def gpu_bandwidths() -> dict[str, float]:
    """Peak memory bandwidth (bytes/s) of every GPU profile in data/hardware.json.

    Example:
        >>> round(gpu_bandwidths()["H200-141GB"] / 1e12, 1)
        4.8
    """
    gpus = load_profiles()["gpus"]
    missing = [name for name, card in gpus.items() if "bandwidth_gbps" not in card]
    if missing:
        raise WorkbookError(f"data/hardware.json: add bandwidth_gbps to {', '.join(missing)}")
    return {name: float(card["bandwidth_gbps"]) * 1e9 for name, card in gpus.items()}


def measure_host_bandwidth(megabytes: int = 256, repeats: int = 5, device: str = "cpu") -> float:
    """Memory bandwidth of `device` (this machine's RAM by default) in bytes/s, from the best of `repeats`
    copies of a large buffer. A copy reads and writes each byte once, so bytes moved = 2 x buffer.

    Example:
        >>> measure_host_bandwidth(16, 2) > 1e8
        True
    """
    import time

    import torch

    n = megabytes * 2**20
    src = torch.ones(n, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)  # first touch: page faults are not bandwidth
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    best = float("inf")
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        dst.copy_(src)
        sync()
        best = min(best, time.perf_counter() - t)
    return 2 * n / best


def roofline_table(
    configs: dict[str, Any], bandwidths: dict[str, float], batch: int = 1, context_tokens: int = 4096
) -> list[dict[str, Any]]:
    """Rows (model, hardware, GiB read per step, roofline tok/s) for every model x bandwidth pair.

    Example:
        >>> rows = roofline_table({"tiny": "tiny"}, {"host": 1e10})
        >>> rows[0]["model"], rows[0]["hardware"]
        ('tiny', 'host')
    """
    rows = []
    for name, cfg in configs.items():
        step = decode_bytes_per_step(cfg, batch, context_tokens)
        for hw, bw in bandwidths.items():
            rows.append(
                {
                    "model": name,
                    "hardware": hw,
                    "batch": batch,
                    "GiB_per_step": round(step.total_bytes / 2**30, 3),
                    "roofline_tok_s": round(batch * bw / step.total_bytes, 1),
                }
            )
    return rows


def describe(step: DecodeBytes) -> str:
    """One JSON line of a DecodeBytes (for logs and the CLI)."""
    return json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in step.as_dict().items()})


def prefill_floor_s(
    config: Any, bandwidth_bytes_s: float, tokens: int, images: bool = False, dtype: str = "bfloat16"
) -> float:
    """The least time a prefill of `tokens` tokens can take when bound by memory: every weight it uses read
    once (the experts `tokens` routed tokens are expected to touch; the vision tower if `images`), stored
    in `dtype`.

    Example:
        >>> prefill_floor_s("tiny", 1e10, 100) > prefill_floor_s("tiny", 1e10, 1)
        True
    """
    cfg = model_config(config)
    step = decode_bytes_per_step(cfg, 1, 0, dtype)
    t = cfg["text_config"]
    by_comp = census(cfg).bytes_by_component(canonical_dtype(dtype))
    total = step.shared_bytes + (by_comp["vision"] if images else 0)
    if t.get("num_experts"):
        total += (
            by_comp["experts"]
            * expected_distinct_experts(t["num_experts"], t["num_experts_per_tok"], tokens)
            / t["num_experts"]
        )
    return total / bandwidth_bytes_s


def with_roofline(
    rows: list[dict[str, Any]],
    config: Any,
    bandwidth_bytes_s: float,
    context_tokens: int,
    dtype: str = "bfloat16",
) -> list[dict[str, Any]]:
    """Each row (with `batch` and `decode_tok_s`) gets the roofline tok/s at its batch and the fraction
    reached, for weights stored in `dtype`; a row that also has `prefill_tok_s` and `prompt_tokens` gets
    `prefill_floor_fraction` (the memory-bound floor of that prefill over its measured time).

    Example:
        >>> with_roofline([{"batch": 1, "decode_tok_s": 10.0}], "tiny", 1e10, 64)[0]["roofline_fraction"] < 1
        True
    """
    out = []
    for row in rows:
        batch = int(row["batch"])
        roof = roofline_tokens_per_s(config, bandwidth_bytes_s, batch, context_tokens, dtype=dtype)
        extra = {"roofline_tok_s": roof, "roofline_fraction": row["decode_tok_s"] / roof}
        if row.get("prefill_tok_s") and row.get("prompt_tokens"):
            tokens = batch * int(row["prompt_tokens"])
            floor = prefill_floor_s(config, bandwidth_bytes_s, tokens, dtype=dtype)
            extra["prefill_floor_fraction"] = floor / (tokens / row["prefill_tok_s"])
        out.append({**row, **extra})
    return out
