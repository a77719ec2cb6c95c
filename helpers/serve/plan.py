"""Plan a vLLM or SGLang deployment of a Qwen3-VL model: memory per GPU, KV-cache tokens, concurrency.

We never run an engine here; we do its start-up arithmetic from the config, the same way the engines do:

- vLLM (``vllm/v1/worker/gpu_worker.py`` ``determine_available_memory``): KV bytes = total ×
  ``gpu_memory_utilization`` − weights − the profile run's peak (``gpu_model_runner.profile_run``: the
  vision encoder on the largest image, or video when videos are allowed, whose outputs stay cached, padded
  to the encoder budget, while the language model runs ``max_num_batched_tokens`` and then the sampler
  runs ``max_num_seqs`` rows; helpers.serve.profile_run) − non-torch memory (CUDA context; with TP on
  NVLink cards also NCCL and all-reduce buffers, the median of vLLM's own measurements).
  CUDA graphs are captured afterwards, out of the (1 − utilization) share.
- SGLang (``model_runner.py`` ``profile_max_num_token``): KV bytes = free memory after loading −
  total × (1 − ``mem_fraction_static``); activations and CUDA graphs live in the (1 − fraction) share.
- Tokens = KV bytes / KV bytes per token per GPU, rounded down to whole 16-token blocks (vLLM).

Weights come from the census (helpers.estimate.census) and are split the way both engines shard them:
attention, dense MLPs, vocabulary (embeddings, lm_head) and the vision tower by TP (vision replicated
with ``--mm-encoder-tp-mode data``), experts by TP or, with expert parallelism, by EP = TP × DP ranks;
routers and norms replicated; layers by PP (the first stage also holds embeddings and the vision tower).

Example:
    >>> A3B = "data/configs/Qwen3-VL-30B-A3B-Instruct.json"
    >>> p = plan_serving(A3B, "vllm", "1xH100-80GB", max_model_len=8192)
    >>> p.kv_bytes_per_token, p.kv_cache_tokens > 100_000
    (98304, True)
"""

from __future__ import annotations

import functools
import json
import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.model import model_config
from helpers.core.paths import DATA_DIR
from helpers.core.units import GIB
from helpers.estimate.census import canonical_dtype, census
from helpers.estimate.vision_tokens import visual_tokens
from helpers.serve.profile_run import (  # noqa: F401 (re-exported: the profile-run model)
    SAMPLER_BYTES_PER_LOGIT,
    _text,
    activation_bytes,
    encoder_profile,
)

# Total memory torch reports per card (what the engines multiply by the utilisation), in GiB.
# Sources: vLLM logs print `total_gpu_memory`: A100-40GB 39.38 (vllm#16570), RTX 3090 23.58 (vllm#10517);
# the others are the cards' torch-reported totals (nominal minus the driver's reserve).
GPU_TOTAL_GIB = {
    "A10-24GB": 22.07,
    "RTX3090-24GB": 23.58,
    "RTX4090-24GB": 23.65,
    "L40S-48GB": 44.52,
    "A100-40GB": 39.38,
    "A100-80GB": 79.15,
    "A800-80GB": 79.15,
    "H100-80GB": 79.19,
    "H200-141GB": 139.8,
}
BLOCK_TOKENS = 16
KV_DTYPE_BYTES = {"auto": 2, "bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
NON_TORCH_GIB = 0.4  # CUDA context + allocator: one-GPU vLLM logs print 0.34-0.43 GiB (vllm#16570, #10517)
# Cards sold with NVLink in their SXM form: there NCCL opens many channels (each with its own buffers) and
# vLLM adds its custom all-reduce, so tensor parallelism costs vLLM about 2 GiB more non-torch memory.
NVLINK_GPUS = frozenset({"A100-40GB", "A100-80GB", "A800-80GB", "H100-80GB", "H200-141GB"})
NON_TORCH_SOURCE = DATA_DIR / "engine_memory" / "vllm_non_torch.json"
SGLANG_CONTEXT_GIB = {1: 0.6, 2: 1.0}  # CUDA context (+ NCCL and custom all-reduce buffers when TP > 1)
_SPEC = re.compile(r"^(?:(?P<count>\d+)\s*[x×]\s*)?(?P<gpu>[A-Za-z0-9.-]+)$")


class PlanError(WorkbookError, ValueError):
    """A layout that cannot work; the message is one line that says what to change."""


@dataclass
class ServingPlan:
    """Per-GPU memory arithmetic of one deployment, in bytes, and what it buys."""

    engine: str
    model: str
    gpu: str
    gpus: int
    tp: int
    pp: int
    dp: int
    ep: bool
    encoder_dp: bool
    weights_bytes_per_gpu: int
    replicated_bytes_per_gpu: int
    activation_bytes: int
    encoder_bytes: int
    non_torch_bytes: int
    cuda_graph_bytes: int
    budget_bytes: int
    kv_cache_bytes_per_gpu: int
    kv_bytes_per_token: int
    kv_cache_tokens: int
    max_model_len: int
    max_concurrency: float
    request_tokens: int
    concurrency_for_mix: float
    memory_fraction: float
    kv_cache_dtype: str
    profile_video: bool = False
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def breakdown_gib(self) -> dict[str, float]:
        """The per-GPU budget in GiB: what the engine reserves for each part."""
        parts = {
            "weights": self.weights_bytes_per_gpu,
            "activations (profile run)": self.activation_bytes,
            "vision encoder (profile run)": self.encoder_bytes,
            "non-torch": self.non_torch_bytes,
            "KV cache": self.kv_cache_bytes_per_gpu,
        }
        return {k: round(v / GIB, 2) for k, v in parts.items()}


def parse_gpu_spec(spec: str) -> tuple[int, str]:
    """``"8xH100-80GB"`` -> (8, "H100-80GB"); bad names raise PlanError listing the known cards.

    Example:
        >>> parse_gpu_spec("8xH100-80GB")
        (8, 'H100-80GB')
    """
    m = _SPEC.match(spec.strip())
    if not m or m.group("gpu") not in GPU_TOTAL_GIB:
        raise PlanError(f"unknown GPU {spec!r}: write COUNTxNAME with NAME one of {', '.join(GPU_TOTAL_GIB)}")
    return int(m.group("count") or 1), m.group("gpu")


def kv_bytes_per_token(cfg: dict[str, Any], tp: int = 1, pp: int = 1, kv_cache_dtype: str = "auto") -> int:
    """KV bytes one token takes on one GPU: layers/PP × KV heads per rank × head_dim × (K+V) × dtype.

    With TP above the KV-head count each rank keeps one (replicated) head, so the bytes stop falling.

    Example:
        >>> from helpers.core.configs import load_config_dict
        >>> cfg = load_config_dict("data/configs/Qwen3-VL-30B-A3B-Instruct.json")
        >>> kv_bytes_per_token(cfg), kv_bytes_per_token(cfg, tp=8)
        (98304, 24576)
    """
    t = _text(cfg)
    heads = int(t["num_key_value_heads"])
    head_dim = int(t.get("head_dim") or t["hidden_size"] // t["num_attention_heads"])
    layers = math.ceil(int(t["num_hidden_layers"]) / pp)
    return layers * max(1, heads // tp) * head_dim * 2 * KV_DTYPE_BYTES[kv_cache_dtype]


def weights_per_gpu(
    model: str | Path, dtype: str, tp: int, pp: int, dp: int, ep: bool, encoder_dp: bool, text_only: bool
) -> tuple[int, int]:
    """(weight bytes on the busiest GPU, of which replicated on every rank) under the layout."""
    parts = census(model).bytes_by_component(canonical_dtype(dtype))
    vision = 0 if text_only else parts.get("vision", 0)
    layered = sum(parts.get(k, 0) for k in ("attention", "dense_mlp", "scales")) / tp
    experts = parts.get("experts", 0) / (tp * dp if ep else tp)
    replicated = parts.get("router", 0) + parts.get("norms", 0)
    vocab = (parts.get("embed_tokens", 0) + parts.get("lm_head", 0)) / tp
    first_stage = (layered + experts + replicated) / pp + vocab / (1 if pp == 1 else 2)
    first_stage += vision if encoder_dp else vision / tp
    repl = replicated / pp + (vision if encoder_dp else 0)
    return int(first_stage), int(repl)


@functools.cache
def measured_tp_non_torch_gib() -> float:
    """Median of vLLM's measured non-torch memory per GPU under tensor parallelism on NVLink cards
    (data/engine_memory/vllm_non_torch.json: vLLM 0.19 logs of TP 2-4 runs of other models on H100, none
    of them a run the planner is checked against).

    Example:
        >>> round(measured_tp_non_torch_gib(), 2)
        2.09
    """
    rows = json.loads(NON_TORCH_SOURCE.read_text(encoding="utf-8"))["rows"]
    return statistics.median(r["non_torch_gib"] for r in rows if r["tp"] > 1)


def vllm_non_torch_gib(gpu: str, tp: int) -> float:
    """The non-torch memory vLLM's profile run charges per GPU: the CUDA context (0.4 GiB), or with TP > 1
    on an NVLink card the measured median, which adds NCCL's channel buffers and vLLM's all-reduce buffers.
    PCIe cards keep the one-GPU figure: NCCL opens few channels there and vLLM turns its custom all-reduce
    off beyond two PCIe GPUs (no public measurement of this term on PCIe cards was found).

    Example:
        >>> vllm_non_torch_gib("H100-80GB", 1), round(vllm_non_torch_gib("H100-80GB", 4), 2)
        (0.4, 2.09)
    """
    return measured_tp_non_torch_gib() if tp > 1 and gpu in NVLINK_GPUS else NON_TORCH_GIB


def vllm_batch_defaults(gpu: str, total_bytes: int) -> tuple[int, int]:
    """(``max_num_batched_tokens``, ``max_num_seqs``) of ``vllm serve`` when neither flag is set.

    ``vllm/engine/arg_utils.py`` ``EngineArgs.get_batch_defaults``: 8192 and 1024 on cards of at least
    70 GiB whose name does not contain "a100" (large batches slow the A100 down, vllm PR 17885), else 2048
    and 256.

    Example:
        >>> vllm_batch_defaults("H100-80GB", 80 * 2**30), vllm_batch_defaults("A100-80GB", 80 * 2**30)
        ((8192, 1024), (2048, 256))
    """
    if total_bytes >= 70 * GIB and "a100" not in gpu.lower():
        return 8192, 1024
    return 2048, 256


def _check_layout(cfg: dict[str, Any], gpus: int, tp: int, pp: int, dp: int, ep: bool) -> None:
    t = _text(cfg)
    heads, kv = int(t["num_attention_heads"]), int(t["num_key_value_heads"])
    if min(tp, pp, dp) < 1:
        raise PlanError("parallel sizes must be at least 1: fix --tp/--pp/--dp")
    if tp * pp * dp != gpus:
        raise PlanError(
            f"TP {tp} × PP {pp} × DP {dp} = {tp * pp * dp} GPUs, but --gpus gives {gpus}: make them equal"
        )
    if heads % tp:
        raise PlanError(f"TP {tp} does not divide the {heads} attention heads: use a TP that divides {heads}")
    if kv % tp and tp % kv:
        raise PlanError(
            f"TP {tp} and the {kv} KV heads do not divide each other: use TP 1, 2, 4 or a multiple of {kv}"
        )
    experts = int(t.get("num_experts", 0) or 0)
    if ep and not experts:
        raise PlanError("--ep needs a mixture-of-experts model; this config is dense: drop --ep")
    if ep and experts % (tp * dp):
        raise PlanError(
            f"{experts} experts are not divisible by the EP size {tp * dp} (TP × DP): change TP or DP"
        )
    if pp > int(t["num_hidden_layers"]):
        raise PlanError(f"PP {pp} exceeds the {t['num_hidden_layers']} layers: lower --pp")


def plan_serving(
    model: str | Path,
    engine: str = "vllm",
    gpus: str = "1xH100-80GB",
    tp: int | None = None,
    pp: int = 1,
    dp: int = 1,
    ep: bool = False,
    dtype: str = "bfloat16",
    kv_cache_dtype: str = "auto",
    memory_fraction: float | None = None,
    max_model_len: int | None = None,
    max_num_batched_tokens: int | None = None,
    max_num_seqs: int | None = None,
    images: list[tuple[int, int]] | None = None,
    text_tokens: int = 512,
    output_tokens: int = 512,
    encoder_dp: bool | None = None,
    text_only: bool = False,
    gpu_total_gib: float | None = None,
    sampler: str = "flashinfer",
    profile_video: bool = False,
    non_torch_gib: float | None = None,
) -> ServingPlan:
    """The start-up arithmetic of `engine` for this model, cards and layout; PlanError if it cannot work.

    `memory_fraction` is vLLM's ``gpu_memory_utilization`` (default 0.9) or SGLang's
    ``mem_fraction_static`` (default 0.88). `max_num_batched_tokens` and `max_num_seqs` default to vLLM's
    per-card choice (``vllm_batch_defaults``). `images` (W, H) describe one request of the expected mix
    (its tokens and concurrency); the profile run reserves for the largest image the processor accepts,
    or with `profile_video` (vLLM without ``--limit-mm-per-prompt`` video 0) the largest video item.
    `encoder_dp` (vLLM ``--mm-encoder-tp-mode data``, the default here when TP > 1) replicates the vision
    tower instead of sharding it. `sampler` is the engine's top-k/top-p path (SAMPLER_BYTES_PER_LOGIT).
    `non_torch_gib` overrides vLLM's non-torch charge per GPU (default ``vllm_non_torch_gib``).
    """
    if engine not in ("vllm", "sglang"):
        raise PlanError(f"unknown engine {engine!r}: use vllm or sglang")
    if sampler not in SAMPLER_BYTES_PER_LOGIT:
        raise PlanError(f"unknown sampler {sampler!r}: use one of {', '.join(SAMPLER_BYTES_PER_LOGIT)}")
    if kv_cache_dtype not in KV_DTYPE_BYTES:
        raise PlanError(
            f"unknown --kv-cache-dtype {kv_cache_dtype!r}: use one of {', '.join(KV_DTYPE_BYTES)}"
        )
    count, gpu = parse_gpu_spec(gpus)
    cfg = model_config(model)
    tp = tp or count // (pp * dp) or 1
    encoder_dp = engine == "vllm" and (tp > 1 if encoder_dp is None else encoder_dp)
    _check_layout(cfg, count, tp, pp, dp, ep)
    frac = memory_fraction if memory_fraction is not None else (0.9 if engine == "vllm" else 0.88)
    if not 0.05 <= frac <= 1.0:
        raise PlanError(f"memory fraction {frac} is outside 0.05-1.0: pass a fraction such as 0.9")
    total = int((gpu_total_gib or GPU_TOTAL_GIB[gpu]) * GIB)
    limit = int(_text(cfg).get("max_position_embeddings", 262144))
    max_len = max_model_len or limit
    if max_len > limit:
        raise PlanError(f"--max-model-len {max_len} exceeds the model's {limit} positions: lower it")
    weights, replicated = weights_per_gpu(model, dtype, tp, pp, dp, ep, encoder_dp, text_only)
    default_batched, default_seqs = vllm_batch_defaults(gpu, total)
    batched = max_num_batched_tokens or default_batched
    act = activation_bytes(cfg, tp, batched, max_num_seqs or default_seqs, sampler)
    # the vision tower's peak, then its output held (padded to the encoder budget) through the LM steps
    enc, held = (0, 0) if text_only else encoder_profile(cfg, batched, max_len, video=profile_video)
    notes: list[str] = []
    if engine == "vllm":
        non_torch = int((vllm_non_torch_gib(gpu, tp) if non_torch_gib is None else non_torch_gib) * GIB)
        budget = int(total * frac)
        kv = budget - weights - max(held + act, enc) - non_torch
        graphs = int(0.5 * GIB if pp == 1 else 0.3 * GIB)
        if total - budget < graphs:
            notes.append(
                "the (1 - utilization) share is smaller than the CUDA-graph estimate: risk of OOM at capture"
            )
    else:
        non_torch = int(SGLANG_CONTEXT_GIB[1 if tp * pp == 1 else 2] * GIB)
        budget = int(total * frac)
        kv = budget - weights - non_torch
        graphs = int(0.5 * GIB)
        if total - budget < max(act, enc) + graphs:
            notes.append(
                "activations + CUDA graphs exceed the (1 - mem_fraction_static) share: lower the fraction"
            )
    if weights > budget:
        raise PlanError(
            f"weights need {weights / GIB:.1f} GiB per GPU but the budget is {budget / GIB:.1f} GiB: "
            "add GPUs (raise --tp or --pp), use --ep, or a quantised checkpoint"
        )
    per_token = kv_bytes_per_token(cfg, tp, pp, kv_cache_dtype)
    tokens = max(0, kv) // per_token // BLOCK_TOKENS * BLOCK_TOKENS
    if tokens < max_len:
        fit = tokens // BLOCK_TOKENS * BLOCK_TOKENS
        raise PlanError(
            f"one {max_len}-token request needs {max_len * per_token / GIB:.2f} GiB of KV per GPU but only "
            f"{max(0, kv) / GIB:.2f} GiB is left: lower --max-model-len to {fit} or add GPUs"
        )
    per_request = text_tokens + output_tokens + sum(visual_tokens(w, h) for w, h in images or [])
    return ServingPlan(
        engine=engine,
        model=str(model),
        gpu=gpu,
        gpus=count,
        tp=tp,
        pp=pp,
        dp=dp,
        ep=ep,
        encoder_dp=encoder_dp,
        weights_bytes_per_gpu=weights,
        replicated_bytes_per_gpu=replicated,
        activation_bytes=held + act if engine == "vllm" else 0,
        encoder_bytes=enc if engine == "vllm" else 0,
        non_torch_bytes=non_torch,
        cuda_graph_bytes=graphs,
        budget_bytes=budget,
        kv_cache_bytes_per_gpu=max(0, kv),
        kv_bytes_per_token=per_token,
        kv_cache_tokens=tokens,
        max_model_len=max_len,
        max_concurrency=round(tokens / max_len, 2),
        request_tokens=per_request,
        concurrency_for_mix=round(tokens / per_request, 1),
        memory_fraction=frac,
        kv_cache_dtype=kv_cache_dtype,
        profile_video=profile_video and not text_only,
        notes=notes,
    )


def planning_config(choice: Any) -> Path:
    """The real config to plan for a model choice: its own config, or for the tiny fixtures the release
    config whose architecture they copy (30B-A3B for `tiny`, 2B for `tiny-dense`).

    Example:
        >>> from helpers.core.model import select_model
        >>> planning_config(select_model("tiny")).name
        'Qwen3-VL-30B-A3B-Instruct.json'
    """
    from helpers.core.paths import CONFIGS_DIR

    if choice.random_weights:
        return CONFIGS_DIR / (
            "Qwen3-VL-30B-A3B-Instruct.json" if choice.is_moe else "Qwen3-VL-2B-Instruct.json"
        )
    return Path(choice.config_path)
