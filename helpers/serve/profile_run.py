"""The profile run's reserve in vLLM: what the engine holds beyond the weights before it sizes the KV cache.

``gpu_model_runner.profile_run`` (vLLM V1) runs, in turn: the vision encoder on the largest multimodal item
the processor allows, whose output stays cached (padded to the whole encoder budget); one forward pass of
``max_num_batched_tokens``; the sampler on ``max_num_seqs`` rows of logits. Its peak is the reserve.

Example:
    >>> vllm_video_profile(100_000)  # vLLM 0.11's largest video item: merged tokens, encoder-budget tokens
    (12288, 153600)
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from helpers.core.configs import default_rules
from helpers.core.paths import CONFIGS_DIR
from helpers.estimate.vision_tokens import visual_tokens

# vLLM 0.11.0 model_executor/models/qwen3_vl.py: each video token costs 12.5 prompt tokens once the
# timestamps ("<t seconds>", 9.5 tokens on average) and vision start/end are added, and the frame search
# stops at _MAX_FRAMES_PER_VIDEO.
FORMATTED_TOKENS_PER_VIDEO_TOKEN = 12.5
VLLM_MAX_FRAMES_PER_VIDEO = 24576


def _text(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg.get("text_config", cfg)


# The sampler's dummy run in the profile (gpu_model_runner._dummy_sampler_run: top-k = vocab - 1, top-p
# 0.9, temperature 0.5, so the full top-k/top-p path runs) holds per logit, by sampler
# (v1/sample/ops/topk_topp_sampler.py): "flashinfer", the bf16 logits of compute_logits (2 B), the fp32
# copy (4), the top-k-masked logits (4) and their softmax (4); "torch" (apply_top_k_top_p), the bf16 and
# fp32 logits (6), the sort's values and int64 indices (12), its radix scratch (12) and the scatter's
# index (8), about 38 B, as llm-d measured (5.56 GiB of activations for Qwen3-0.6B at 1024 sequences on
# H100, config_explorer/empirical-vllm-memory-results.md). FlashInfer is V1's default when installed
# (vllm PR 11394), except from vllm PR 26859 (Oct 2025) to PR 40376 (Apr 2026), when torch was.
# "triton": vLLM 0.19.0's native path (FlashInfer sampling off by default, its log says) sends 8 rows or more
# to apply_top_k_top_p_triton, which masks the fp32 logits in place with a small per-SM buffer, then softmax
# and random_sample's exponential: FlashInfer's 14 B.
SAMPLER_BYTES_PER_LOGIT = {"flashinfer": 14, "torch": 38, "triton": 14}


def activation_bytes(
    cfg: dict[str, Any], tp: int, batched_tokens: int, max_num_seqs: int = 256, sampler: str = "flashinfer"
) -> int:
    """Peak activations of the profile run (``gpu_model_runner.profile_run``), the larger of its two steps:
    the dummy forward pass, one decoder layer's working set for `batched_tokens` (residual, q/k/v, the
    MLP's gate-up or the routed experts' gate-up for top-k), and the dummy sampler run on `max_num_seqs`
    rows of logits (``SAMPLER_BYTES_PER_LOGIT[sampler]`` each) while the forward pass's hidden states are
    still held.

    Example:
        >>> cfg = load_config_dict("data/configs/Qwen3-VL-30B-A3B-Instruct.json")
        >>> round(activation_bytes(cfg, 1, 8192, 1024) / 2**30, 2)
        2.06
    """
    t = _text(cfg)
    hidden = int(t["hidden_size"])
    if t.get("num_experts"):
        mlp = int(t["num_experts_per_tok"]) * 3 * int(t["moe_intermediate_size"]) // tp
    else:
        mlp = 3 * int(t["intermediate_size"]) // tp
    forward = batched_tokens * 2 * (6 * hidden + mlp)
    per_logit = SAMPLER_BYTES_PER_LOGIT[sampler]
    return max(forward, max_num_seqs * int(t["vocab_size"]) * per_logit + batched_tokens * hidden * 2)


def encoder_output_bytes(cfg: dict[str, Any], image_tokens: int) -> int:
    """The merged and deep-stack features the vision tower hands to the language model for one image."""
    v = cfg.get("vision_config", {})
    stacks = 1 + len(v.get("deepstack_visual_indexes", []))
    return image_tokens * int(_text(cfg)["hidden_size"]) * stacks * 2 if v else 0


def encoder_bytes(cfg: dict[str, Any], image_tokens: int) -> int:
    """Peak of the vision tower on one image of `image_tokens` merged tokens (4 patches each): one block's
    working set (hidden ×6 + MLP ×2) in bf16, plus the merged and deep-stack features handed to the LM."""
    v = cfg.get("vision_config", {})
    if not v:
        return 0
    patches = 4 * image_tokens
    block = patches * (6 * int(v["hidden_size"]) + 2 * int(v["intermediate_size"])) * 2
    return block + encoder_output_bytes(cfg, image_tokens)


@lru_cache(maxsize=1)
def video_rules() -> dict[str, int]:
    """The video processor's limits (data/configs/video_preprocessor_config.json): pixels over all frames."""
    pre = json.loads((CONFIGS_DIR / "video_preprocessor_config.json").read_text(encoding="utf-8"))
    return {
        "min_pixels": int(pre["size"]["shortest_edge"]),
        "max_pixels": int(pre["size"]["longest_edge"]),
        "factor": int(pre["patch_size"]) * int(pre["merge_size"]),
        "temporal": int(pre["temporal_patch_size"]),
    }


def video_item(width: int, height: int, frames: int) -> tuple[int, int, int]:
    """(width, height, merged tokens) of a `frames`-frame video after the video processor's resize
    (Transformers' own ``smart_resize`` for Qwen3-VL video: the pixel limit covers all frames).

    Example:
        >>> video_item(4096, 4096, 2)
        (3520, 3520, 12100)
    """
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

    r = video_rules()
    h, w = smart_resize(frames, height, width, r["temporal"], r["factor"], r["min_pixels"], r["max_pixels"])
    grid_t = max((frames + frames % r["temporal"]) // r["temporal"], 1)
    return w, h, grid_t * (h // r["factor"]) * (w // r["factor"])


def largest_image_side() -> int:
    """Side in pixels of the largest square image the image processor accepts (its max pixels)."""
    return math.isqrt(default_rules().max_pixels)


def largest_image_tokens() -> int:
    """Merged tokens of the largest image the image processor accepts."""
    side = largest_image_side()
    return visual_tokens(side, side)


@lru_cache(maxsize=32)  # a search over up to 24,576 frame counts; the same lengths recur
def vllm_video_profile(max_model_len: int) -> tuple[int, int]:
    """(merged tokens the encoder sees, prompt tokens the encoder budget is sized for) of the largest video
    item vLLM 0.11 profiles when videos are not disabled: the frame search of
    ``Qwen2VLProcessingInfo._get_max_video_frames`` over frames of the largest image, capped at
    ``VLLM_MAX_FRAMES_PER_VIDEO``, each merged token counted 12.5 times. From vllm PR 34051 (Feb 2026) the
    budget counts embeddings alone, so for those releases this is an upper bound.

    Example:
        >>> vllm_video_profile(8192)  # two frames of 3520x3520 when a third would not fit
        (12100, 151250)
    """
    side = largest_image_side()
    frames = 2
    while frames < VLLM_MAX_FRAMES_PER_VIDEO and video_item(side, side, frames + 1)[2] <= max_model_len:
        frames += 1
    merged = video_item(side, side, frames)[2]
    return merged, int(merged * FORMATTED_TOKENS_PER_VIDEO_TOKEN)


def encoder_profile(
    cfg: dict[str, Any], batched_tokens: int, max_model_len: int, video: bool = False
) -> tuple[int, int]:
    """(vision tower's peak bytes, encoder-cache bytes held through the forward and sampler steps).

    The dummy item is the modality with the most tokens per item: the largest image, or with `video` the
    largest video. The encoder budget is max(`batched_tokens`, that item's tokens), and vLLM pads the
    cached output to the whole budget (``profile_run``: "create dummy embeddings of size
    (encoder_budget, hidden_size)"), which for a video item is 12.5 times its features.

    Example:
        >>> cfg = load_config_dict("data/configs/Qwen3-VL-235B-A22B-Instruct.json")
        >>> [round(b / 2**30, 2) for b in encoder_profile(cfg, 2048, 100_000, video=True)]
        [1.8, 4.69]
    """
    seen = budget = largest_image_tokens()
    if video:
        merged, formatted = vllm_video_profile(max_model_len)
        if formatted > budget:
            seen, budget = merged, formatted
    return encoder_bytes(cfg, seen), encoder_output_bytes(cfg, max(batched_tokens, budget))
