"""Peak memory of a Qwen3-VL job before any download: weights + KV cache + activations + overhead.

Terms (all bytes; every assumption is a named, overridable argument):
- weights: exact, from the meta-device census (`helpers.estimate.census`).
- KV cache: 2 (K and V) x layers x kv_heads x head_dim x activation-dtype bytes per token, for
  batch x (context_tokens + visual tokens of the images). Images are per sequence.
- activations: the largest live set of the prefill (vision encoder on all patches, then one decoder
  layer on all tokens: attention projections, and the MoE's experts buffers for N x top-k rows, or
  the dense MLP), or of one decode step, whichever is larger. The experts term follows
  `experts_implementation` (Transformers 5.23's integrations/moe.py): ``grouped_mm`` (the default) and
  ``eager`` keep activations only; ``batched_mm`` also gathers each (token, expert) pair's weights,
  N x top-k x 3 x H x I elements, which dominates a long prefill.
- static cache (`cache_implementation="static"`): the KV cache is preallocated for `max_cache_len`
  tokens (default: the sequence), whatever the sequence then uses. `attn_implementation="sdpa"` (the
  default Transformers picks) keeps attention O(S); "eager" adds heads x S^2 scores. `generate`
  computes logits for the last token only.
- inputs: the processor's tensors (fp32 pixel_values, int64 ids/masks) stay alive through `generate`;
  they are added to, not maxed with, the activations. On "cpu" the image processor's own working set
  (two more fp32 copies) and the loader's transient (mmapped checkpoint pages + materialised copies,
  2 x weights) are further candidates for the peak.
- overhead: `overhead_bytes`, default 1 GiB on "cuda" (CUDA context, cuBLAS workspace; NVML sees it,
  `max_memory_allocated` does not) and `CPU_BASELINE_BYTES` on "cpu" (an assumption: Python + torch +
  Transformers + processor as measured on this machine; pass your own measured baseline, as
  benchmarks/estimator_accuracy.py does), plus `slack_fraction` of KV + activations for allocator
  fragmentation.

Example:
    >>> est = estimate_peak_memory("data/configs/Qwen3-VL-30B-A3B-Instruct.json", context_tokens=32768,
    ...                            images=[(2480, 3508)])
    >>> est.visual_tokens, round(est.kv_cache_bytes / GIB, 2)
    ([8580], 3.79)

CLI: ``qwen3vl memory --model data/configs/Qwen3-VL-30B-A3B-Instruct.json --context 32768
--image 2480x3508 --gpus 2xA100-80GB --json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.config_rules import expert_count
from helpers.core.configs import check_config
from helpers.core.errors import WorkbookError
from helpers.core.model import model_config
from helpers.core.units import GIB, MIB
from helpers.estimate.census import Census, canonical_dtype, census
from helpers.estimate.video_tokens import VideoSpec, video_grid, video_text_tokens
from helpers.estimate.vision_tokens import vision_patches, visual_tokens

CPU_BASELINE_BYTES = (
    1100 * MIB
)  # assumption: RSS of python + torch + transformers + processor (about 1,054 MiB here)
CUDA_OVERHEAD_BYTES = (
    1 * GIB
)  # CUDA context + cuBLAS workspace; matches data/hardware.json runtime_overhead_gib
SLACK_FRACTION = 0.05  # allocator fragmentation on KV + activations (an assumption)
MAX_CONTEXT = 10_000_000
EXPERTS_IMPLEMENTATIONS = ("grouped_mm", "batched_mm", "eager")  # Transformers' experts_implementation


@dataclass
class MemoryEstimate:
    """The four terms, their sum, and what they were computed for."""

    model_type: str
    dtype: str
    context_tokens: int
    batch: int
    total_params: int
    active_params: int
    weights_bytes: int
    kv_cache_bytes: int
    kv_bytes_per_token: int
    activation_bytes: int
    prefill_activation_bytes: int
    decode_activation_bytes: int
    vision_activation_bytes: int
    overhead_bytes: int
    peak_bytes: int
    visual_tokens: list[int] = field(default_factory=list)
    sequence_tokens: int = 0
    device: str = "cuda"
    attn_implementation: str = "sdpa"
    experts_implementation: str = "grouped_mm"
    cache_implementation: str = "dynamic"
    input_bytes: int = 0
    preprocess_bytes: int = 0
    video_text_tokens: int = 0  # timestamps and per-frame vision markers the videos add besides their pads

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def gib(self) -> dict[str, float]:
        """The byte terms in GiB, rounded (for tables)."""
        return {k: round(v / GIB, 3) for k, v in self.as_dict().items() if k.endswith("_bytes")}


def _act_bytes(dtype: str) -> int:
    return 4 if dtype == "float32" else 2  # fp8/int8/int4 weights still compute in bf16


def kv_bytes_per_token(config: Any, dtype: str = "bfloat16") -> int:
    """KV-cache bytes one token adds (all layers, K and V), from text_config.

    Example:
        >>> kv_bytes_per_token("data/configs/Qwen3-VL-30B-A3B-Instruct.json")  # 2 x 48 x 4 x 128 x 2
        98304
    """
    t = model_config(config)["text_config"]
    hd = t.get("head_dim") or t["hidden_size"] // t["num_attention_heads"]
    return 2 * t["num_hidden_layers"] * t["num_key_value_heads"] * hd * _act_bytes(canonical_dtype(dtype))


def input_tensor_bytes(cfg: dict[str, Any], patches: list[int], tokens: int, batch: int = 1) -> int:
    """Bytes of the processor's output tensors, held for the whole `generate` call.

    pixel_values stay fp32 ([patches, 3 x temporal x patch^2]) until the model casts them; input_ids,
    attention_mask and mm_token_type_ids are int64 [batch, tokens].

    Example:
        >>> input_tensor_bytes(model_config("tiny"), [8580], 2300)  # 8580 x 1536 x 4 + 3 x 8 x 2300
        52770720
    """
    v = cfg["vision_config"]
    pdim = 3 * v["temporal_patch_size"] * v["patch_size"] ** 2
    return sum(patches) * pdim * 4 + 3 * 8 * batch * tokens


def preprocess_bytes(cfg: dict[str, Any], patches: list[int]) -> int:
    """Host working set of the image processor beyond its final pixel_values (CPU only).

    Qwen2-VL's fast `_preprocess` (which Qwen3-VL uses) converts the resized uint8 stack to fp32,
    normalises it into a new fp32 tensor, then `patchify` makes a contiguous fp32 copy: while the
    last copy is written, two fp32 images of the same size are alive besides it.

    Example:
        >>> preprocess_bytes(model_config("tiny"), [8580]) == 2 * 8580 * 1536 * 4
        True
    """
    v = cfg["vision_config"]
    return 2 * sum(patches) * 3 * v["temporal_patch_size"] * v["patch_size"] ** 2 * 4


DEFAULT_SHARD_BYTES = 5 * 10**9  # what most Hub releases use (the 30B-A3B: 13 shards of about 4.8 GB)


def largest_shard_bytes(folder: Any) -> int | None:
    """Size of the largest safetensors file in a checkpoint folder; None when it is not a folder.

    Example:
        >>> largest_shard_bytes("data/configs/Qwen3-VL-30B-A3B-Instruct.json") is None
        True
    """
    if not isinstance(folder, (str, Path)):  # a config dict has no shards
        return None
    path = Path(folder)
    if not path.is_dir():
        return None
    sizes = [p.stat().st_size for p in path.glob("*.safetensors")]
    return max(sizes) if sizes else None


def load_transient_bytes(weights_bytes: int, shard_bytes: int | None = None) -> int:
    """Host peak of `from_pretrained` on CPU: the materialised weights plus the pages of the shard
    being read (safetensors are memory-mapped one shard at a time; file pages count in RSS).
    `shard_bytes` defaults to min(weights, DEFAULT_SHARD_BYTES), an assumption for a bare config.

    Example:
        >>> load_transient_bytes(100, shard_bytes=40)
        140
    """
    shard = (
        min(weights_bytes, DEFAULT_SHARD_BYTES) if shard_bytes is None else min(shard_bytes, weights_bytes)
    )
    return weights_bytes + shard


def vision_activation_bytes(cfg: dict[str, Any], patches: list[int], b: int, attn: str = "sdpa") -> int:
    """Largest live set while the vision encoder runs on all images' patches at once.

    Read from Transformers 5.23's Qwen3-VL vision tower. Alive throughout: pixel_values cast to the
    model dtype, the hidden state, fp32 rotary cos/sin, the interpolation indices/weights and the
    deepstack features collected so far. The largest transient of: the patch embedding (Conv3d copies
    its input), the learned position embedding (4 bilinear taps gathered in the model dtype, then
    multiplied by fp32 weights: [P, 4, hidden] in both dtypes), one block's attention (norm, fused
    qkv, q and k upcast to fp32 for rotary with their temporaries, per-image sdpa outputs and their
    concatenation) or MLP (norm, fc1, activation), or a patch merger.
    """
    if not patches:
        return 0
    v = cfg["vision_config"]
    P, Hv, Iv = sum(patches), v["hidden_size"], v["intermediate_size"]
    pdim = 3 * v["temporal_patch_size"] * v["patch_size"] ** 2
    m2 = v["spatial_merge_size"] ** 2
    out = v["out_hidden_size"]
    hd = Hv // v["num_heads"]
    deepstack = len(v.get("deepstack_visual_indexes", [])) * (P // m2) * out * b
    keep = P * pdim * b + P * Hv * b + 2 * P * hd * 4 + P * 4 * (8 + 4) + deepstack
    embed = P * pdim * b + P * Hv * b
    pos = P * 4 * Hv * (b + 4) + P * Hv * 4
    attn_t = 2 * P * Hv * b + 3 * P * Hv * b + 5 * P * Hv * 4 + 2 * P * Hv * b
    if attn == "eager":
        attn_t += v["num_heads"] * max(patches) ** 2 * (4 + b)
    mlp_t = 2 * P * Hv * b + 2 * P * Iv * b
    merger = 3 * P * Hv * b + (P // m2) * out * b
    return keep + max(embed, pos, attn_t, mlp_t, merger)


def decoder_activation_bytes(
    cfg: dict[str, Any],
    tokens: int,
    batch: int,
    b: int,
    attn: str = "sdpa",
    image_tokens: int = 0,
    experts: str = "grouped_mm",
) -> int:
    """Largest live set of one decoder layer over batch x tokens, plus what persists across layers."""
    t, v = cfg["text_config"], cfg["vision_config"]
    H, nq, nkv = t["hidden_size"], t["num_attention_heads"], t["num_key_value_heads"]
    hd = t.get("head_dim") or H // nq
    N = batch * tokens
    base = N * H * b * 3  # inputs_embeds, hidden, residual
    base += len(v.get("deepstack_visual_indexes", [])) * batch * image_tokens * H * b
    qkv = N * (nq + 2 * nkv) * hd * b
    attn_t = 2 * qkv + N * nq * hd * b
    if attn == "eager":
        attn_t += batch * nq * tokens * tokens * (4 + b) + batch * tokens * tokens * b
    if expert_count(t):
        k, E, I_ = t["num_experts_per_tok"], expert_count(t), t["moe_intermediate_size"]
        mlp_t = N * k * (3 * H + 3 * I_) * b + N * E * 4 * 2 + N * k * 8 * 4
        if experts == "batched_mm":  # gathered gate_up [S, 2I, H] and down [S, H, I] weights, both alive
            mlp_t += N * k * 3 * H * I_ * b
        elif experts == "eager":  # one_hot routing mask, int64 [N, k, E + 1]
            mlp_t = max(mlp_t, N * H * b + N * k * (E + 1) * 8 + N * E * 4 * 2)
    else:
        mlp_t = N * (3 * t["intermediate_size"] + H) * b
    logits = batch * t["vocab_size"] * 4 * 2  # last position only, upcast to fp32
    return base + max(attn_t, mlp_t) + logits


def estimate_peak_memory(
    config: Any,
    dtype: str = "bfloat16",
    context_tokens: int = 4096,
    batch: int = 1,
    images: list[tuple[int, int]] | None = None,
    max_pixels: int | None = None,
    min_pixels: int | None = None,
    device: str = "cuda",
    attn_implementation: str = "sdpa",
    overhead_bytes: int | None = None,
    slack_fraction: float = SLACK_FRACTION,
    shard_bytes: int | None = None,
    experts_implementation: str = "grouped_mm",
    cache_implementation: str = "dynamic",
    max_cache_len: int | None = None,
    videos: list[VideoSpec] | None = None,
    cap_pixels_per_frame: bool = False,
) -> MemoryEstimate:
    """Predict the peak memory of loading the model and running one generate job.

    Example:
        >>> e = estimate_peak_memory("tiny", context_tokens=1024, device="cpu")
        >>> e.weights_bytes == census("tiny").weights_bytes("bfloat16")
        True
        >>> b = estimate_peak_memory(
        ...     "tiny", context_tokens=1024, batch=4, experts_implementation="batched_mm"
        ... )
        >>> b.peak_bytes > estimate_peak_memory("tiny", context_tokens=1024, batch=4).peak_bytes
        True
    """
    dtype = canonical_dtype(dtype)
    if not isinstance(context_tokens, int) or not 1 <= context_tokens <= MAX_CONTEXT:
        raise WorkbookError(f"--context {context_tokens!r}: give a token count between 1 and {MAX_CONTEXT:,}")
    if not isinstance(batch, int) or not 1 <= batch <= 4096:
        raise WorkbookError(f"--batch {batch!r}: give a batch size between 1 and 4096")
    if device not in ("cuda", "cpu"):
        raise WorkbookError(f"device {device!r}: use 'cuda' or 'cpu'")
    if attn_implementation not in ("sdpa", "eager", "flash_attention_2"):
        raise WorkbookError(
            f"attn_implementation {attn_implementation!r}: use sdpa, eager or flash_attention_2"
        )
    if experts_implementation not in EXPERTS_IMPLEMENTATIONS:
        raise WorkbookError(
            f"experts_implementation {experts_implementation!r}: use {', '.join(EXPERTS_IMPLEMENTATIONS)}"
        )
    if cache_implementation not in ("dynamic", "static"):
        raise WorkbookError(f"cache_implementation {cache_implementation!r}: use dynamic or static")
    if max_cache_len is not None and (
        not isinstance(max_cache_len, int) or not 1 <= max_cache_len <= MAX_CONTEXT
    ):
        raise WorkbookError(
            f"max_cache_len {max_cache_len!r}: give a token count between 1 and {MAX_CONTEXT:,}"
        )
    cfg = model_config(config)
    check_config(cfg)
    c: Census = census(cfg)
    images = list(images or [])
    vis = visual_tokens(list(images), min_pixels=min_pixels, max_pixels=max_pixels)
    patches = [vision_patches(w, h, min_pixels, max_pixels) for w, h in images] * batch
    # videos: pads after the images (the JSON lists images, then videos); the vision tower attends within
    # each temporal patch, so a clip enters the patch list as grid_t entries of grid_h x grid_w
    vid_text = 0
    for v in videos or []:
        t, gh, gw = video_grid(
            v.width, v.height, v.seconds, v.video_fps, cap_pixels_per_frame=cap_pixels_per_frame
        )
        vis.append(t * gh * gw // cfg["vision_config"]["spatial_merge_size"] ** 2)
        patches += [gh * gw] * t * batch
        vid_text += video_text_tokens(v.seconds, v.video_fps)
    seq = context_tokens + sum(vis) + vid_text
    b = _act_bytes(dtype)
    per_tok = kv_bytes_per_token(cfg, dtype)
    cache_len = max(seq, max_cache_len or 0) if cache_implementation == "static" else seq
    kv = per_tok * cache_len * batch
    inputs = input_tensor_bytes(cfg, patches, seq, batch)
    prep = preprocess_bytes(cfg, patches) if device == "cpu" else 0  # the processor runs on the host
    vis_act = vision_activation_bytes(cfg, patches, b, attn_implementation)
    dec_act = decoder_activation_bytes(
        cfg, seq, batch, b, attn_implementation, sum(vis), experts_implementation
    )
    # On the host, glibc keeps freed chunks below its (dynamic) mmap threshold in its arenas, so the
    # vision pass's memory is not handed back before the decoder runs: on CPU the two add up.
    prefill = vis_act + dec_act if device == "cpu" else max(vis_act, dec_act)
    t = cfg["text_config"]
    hd = t.get("head_dim") or t["hidden_size"] // t["num_attention_heads"]
    decode = (
        decoder_activation_bytes(cfg, 1, batch, b, "sdpa", 0, experts_implementation)
        + 2 * batch * cache_len * t["num_key_value_heads"] * hd * b
    )
    if attn_implementation == "eager":
        decode += batch * t["num_attention_heads"] * seq * (4 + b)
    act = inputs + max(prefill, decode, prep)  # the processor's tensors stay alive through generate
    if overhead_bytes is None:
        overhead_bytes = CUDA_OVERHEAD_BYTES if device == "cuda" else CPU_BASELINE_BYTES
    overhead = int(overhead_bytes + slack_fraction * (kv + act))
    weights = c.weights_bytes(dtype)
    if device == "cpu":  # loading maps the safetensors (file pages count in RSS) while tensors materialise
        shard = shard_bytes if shard_bytes is not None else largest_shard_bytes(config)
        act = max(act, load_transient_bytes(weights, shard) - weights - kv)
    return MemoryEstimate(
        model_type=c.model_type,
        dtype=dtype,
        context_tokens=context_tokens,
        batch=batch,
        total_params=c.total_params,
        active_params=c.active_params,
        weights_bytes=weights,
        kv_cache_bytes=kv,
        kv_bytes_per_token=per_tok,
        activation_bytes=act,
        prefill_activation_bytes=prefill,
        decode_activation_bytes=decode,
        vision_activation_bytes=vis_act,
        overhead_bytes=overhead,
        peak_bytes=weights + kv + act + overhead,
        visual_tokens=vis,
        sequence_tokens=seq,
        device=device,
        attn_implementation=attn_implementation,
        experts_implementation=experts_implementation,
        cache_implementation=cache_implementation,
        input_bytes=inputs,
        preprocess_bytes=prep,
        video_text_tokens=vid_text,
    )
