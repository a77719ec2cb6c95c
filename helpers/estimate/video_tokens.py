"""Visual tokens of a video, by the real Qwen3VLVideoProcessor's rules (Transformers 5.23), no decoder needed.

The steps the processor takes, each reproduced here:
1. Frame sampling: ``n = int(total_frames / video_fps * fps)`` (fps 2 by default), clamped to
   [min_frames, max_frames] (4, 768) and to the frames the clip has; or ``num_frames`` when given. The
   indices are ``linspace(0, total - 1, n).round()``. Without metadata the processor assumes 24 fps.
2. Resize: the video's ``smart_resize`` over all sampled frames at once: ``size["longest_edge"]`` (786,432
   px) is a budget for ALL frames together (``size["shortest_edge"]`` 131,072 px a floor), so long clips get
   small frames. With ``cap_pixels_per_frame=True`` (the reference qwen-vl-utils behaviour) the budget is
   ``n x max(min(768 x 32², longest // n), int(1.05 x shortest))``, so cost grows with the clip's length.
3. Temporal patches: frames are paired (temporal patch 2; an odd count repeats the last frame), so
   ``grid_t = ceil(n / 2)``; each pair of frames is (h/32)·(w/32) ``<|video_pad|>`` tokens.
4. Timestamps: each pair becomes ``<t seconds><|vision_start|>…<|vision_end|>``, t the mean time of its two
   frames with one decimal; Qwen's tokenizer spells ``<12.5 seconds>`` as 7 tokens (digits one by one).

Example:
    >>> video_grid(640, 480, seconds=8, video_fps=2)            # 16 frames of 640x480
    (8, 12, 16)
    >>> video_tokens(1920, 1080, seconds=10, video_fps=30, cap_pixels_per_frame=True)  # 300 frames
    1200
    >>> video_tokens(854, 480, 10, 30), video_tokens(854, 480, 10, 30, cap_pixels_per_frame=True)
    (320, 1200)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache

from helpers.core.errors import WorkbookError

DEFAULT_VIDEO_FPS = 30.0  # a clip's own frame rate when `--video WxH:SECONDS` gives none (an assumption)
MISSING_METADATA_FPS = 24.0  # what the processor assumes when no VideoMetadata comes with the frames
MAX_SECONDS = 24 * 3600


@dataclass(frozen=True)
class VideoRules:
    """The video processor's settings that decide the token count (defaults: Qwen3VLVideoProcessor's)."""

    patch_size: int = 16
    temporal_patch_size: int = 2
    merge_size: int = 2
    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 768
    min_pixels: int = 128 * 32 * 32
    max_pixels: int = 768 * 32 * 32
    max_video_tokens: int = 768

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


@lru_cache(maxsize=1)
def video_rules() -> VideoRules:
    """The rules read from the installed Transformers' Qwen3VLVideoProcessor class (its defaults).

    Example:
        >>> video_rules().max_pixels, video_rules().fps
        (786432, 2.0)
    """
    from transformers import Qwen3VLVideoProcessor as P

    return VideoRules(
        patch_size=int(P.patch_size),
        temporal_patch_size=int(P.temporal_patch_size),
        merge_size=int(P.merge_size),
        fps=float(P.fps),
        min_frames=int(P.min_frames),
        max_frames=int(P.max_frames),
        min_pixels=int(P.size["shortest_edge"]),
        max_pixels=int(P.size["longest_edge"]),
        max_video_tokens=int(P.max_video_tokens),
    )


def total_frames(seconds: float, video_fps: float) -> int:
    """Frames a clip of `seconds` at `video_fps` holds (what a decoder reports as total_num_frames).

    Example:
        >>> total_frames(2.0, 29.97)
        60
    """
    return max(1, int(round(seconds * video_fps)))


def frame_indices(
    n_total: int,
    video_fps: float | None = None,
    fps: float | None = None,
    num_frames: int | None = None,
    rules: VideoRules | None = None,
) -> list[int]:
    """Indices of the frames the processor samples from a clip of `n_total` frames.

    Example:
        >>> frame_indices(60, video_fps=30)                      # 2 s at 30 fps, sampled at 2 fps
        [0, 20, 39, 59]
    """
    rules = rules or video_rules()
    if fps is not None and num_frames is not None:
        raise WorkbookError("give fps or num_frames, not both (the processor refuses both)")
    if num_frames is None:
        vfps = MISSING_METADATA_FPS if video_fps is None else float(video_fps)
        target = rules.fps if fps is None else float(fps)
        n = int(n_total / vfps * target)
        n = min(max(n, rules.min_frames), rules.max_frames, n_total)
    else:
        n = int(num_frames)
    if n < 1:
        raise WorkbookError(f"num_frames={num_frames!r}: give at least one frame")
    import numpy as np

    return [int(i) for i in np.linspace(0, n_total - 1, n).round().astype(int)]


def _resize(n: int, width: int, height: int, max_pixels: int, rules: VideoRules) -> tuple[int, int]:
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

    if n < rules.temporal_patch_size:
        raise WorkbookError(
            f"{n} sampled frame(s): the processor needs at least {rules.temporal_patch_size}; "
            "use a longer clip or more frames"
        )
    h, w = smart_resize(
        n,
        height,
        width,
        temporal_factor=rules.temporal_patch_size,
        factor=rules.factor,
        min_pixels=rules.min_pixels,
        max_pixels=max_pixels,
    )
    return int(w), int(h)


def video_grid(
    width: int,
    height: int,
    seconds: float,
    video_fps: float | None = DEFAULT_VIDEO_FPS,
    fps: float | None = None,
    num_frames: int | None = None,
    cap_pixels_per_frame: bool = False,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> tuple[int, int, int]:
    """The processor's ``video_grid_thw`` for a clip: (temporal patches, patch rows, patch columns).

    Example:
        >>> video_grid(1280, 720, seconds=2, video_fps=30)
        (2, 20, 36)
    """
    _check(width, height, seconds, video_fps)
    rules = video_rules()
    if min_pixels is not None or max_pixels is not None:
        rules = replace(
            rules,
            min_pixels=rules.min_pixels if min_pixels is None else int(min_pixels),
            max_pixels=rules.max_pixels if max_pixels is None else int(max_pixels),
        )
    n_total = total_frames(seconds, video_fps or MISSING_METADATA_FPS)
    n = len(frame_indices(n_total, video_fps, fps, num_frames, rules))
    budget = rules.max_pixels
    if cap_pixels_per_frame:
        frame_cap = rules.max_video_tokens * rules.factor**2
        per_frame = max(min(frame_cap, rules.max_pixels // n), int(rules.min_pixels * 1.05))
        budget = per_frame * n
    w, h = _resize(n, width, height, budget, rules)
    return math.ceil(n / rules.temporal_patch_size), h // rules.patch_size, w // rules.patch_size


def video_patches(width: int, height: int, seconds: float, **kwargs) -> int:
    """Patches the vision encoder processes for a clip (grid_t x grid_h x grid_w).

    Example:
        >>> video_patches(640, 480, 8, video_fps=2)
        1536
    """
    t, h, w = video_grid(width, height, seconds, **kwargs)
    return t * h * w


def video_tokens(
    width: int, height: int, seconds: float, video_fps: float | None = DEFAULT_VIDEO_FPS, **kw
) -> int:
    """``<|video_pad|>`` tokens a clip adds to the language model's sequence.

    Example:
        >>> video_tokens(640, 480, 8, video_fps=2)
        384
    """
    rules = video_rules()
    return video_patches(width, height, seconds, video_fps=video_fps, **kw) // rules.merge_size**2


def timestamps(
    seconds: float,
    video_fps: float | None = DEFAULT_VIDEO_FPS,
    fps: float | None = None,
    num_frames: int | None = None,
) -> list[float]:
    """The time, in seconds, the prompt gives each temporal patch (mean of its two frames' times).

    Example:
        >>> timestamps(2, video_fps=30)
        [0.3333333333333333, 1.6333333333333333]
    """
    rules = video_rules()
    vfps = MISSING_METADATA_FPS if video_fps is None else float(video_fps)
    idx = frame_indices(total_frames(seconds, vfps), video_fps, fps, num_frames, rules)
    k = rules.temporal_patch_size
    idx = idx + [idx[-1]] * (-len(idx) % k)
    times = [i / vfps for i in idx]
    return [(times[i] + times[i + k - 1]) / 2 for i in range(0, len(times), k)]


def timestamp_token_count(t: float) -> int:
    """Tokens of ``<{t:.1f} seconds>`` in Qwen's tokenizer: '<', each digit, '.', ' seconds', '>'.

    Example:
        >>> timestamp_token_count(12.25)
        7
    """
    return sum(ch.isdigit() for ch in f"{t:.1f}") + 4


def video_text_tokens(seconds: float, video_fps: float | None = DEFAULT_VIDEO_FPS, **kw) -> int:
    """Tokens a clip adds besides its pads: per temporal patch a timestamp plus <|vision_start|> and
    <|vision_end|> (the template's own outer pair and its <|video_pad|> are part of the prompt text).

    Example:
        >>> video_text_tokens(8, video_fps=2)                     # 8 patches x (6 + 2) - the pad it replaces
        63
    """
    ts = timestamps(seconds, video_fps, kw.get("fps"), kw.get("num_frames"))
    return sum(timestamp_token_count(t) + 2 for t in ts) - 1


@dataclass(frozen=True)
class VideoSpec:
    """A clip to estimate: size, length and its own frame rate."""

    width: int
    height: int
    seconds: float
    video_fps: float = DEFAULT_VIDEO_FPS


_SPEC = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*:\s*(\d+(?:\.\d+)?)\s*s?\s*(?:@\s*(\d+(?:\.\d+)?))?\s*$")


def parse_video(text: str) -> VideoSpec:
    """Parse ``WIDTHxHEIGHT:SECONDS[@FPS]`` (e.g. ``1280x720:60@30``); a one-line WorkbookError otherwise.

    Example:
        >>> parse_video("1920x1080:10@60")
        VideoSpec(width=1920, height=1080, seconds=10.0, video_fps=60.0)
    """
    m = _SPEC.match(text.lower())
    if not m:
        raise WorkbookError(
            f"--video {text!r}: write it as WIDTHxHEIGHT:SECONDS[@FPS], e.g. 1280x720:60@30 (fps default 30)"
        )
    spec = VideoSpec(int(m[1]), int(m[2]), float(m[3]), float(m[4]) if m[4] else DEFAULT_VIDEO_FPS)
    _check(spec.width, spec.height, spec.seconds, spec.video_fps)
    return spec


def _check(width: int, height: int, seconds: float, video_fps: float | None) -> None:
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 100_000:
            raise WorkbookError(f"video {name} {v!r}: give a whole number of pixels between 1 and 100,000")
    if max(width, height) / min(width, height) > 200:
        raise WorkbookError(f"video {width}x{height}: the processor refuses aspect ratios over 200:1")
    if not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_SECONDS:
        raise WorkbookError(f"video length {seconds!r} s: give seconds between 0 and {MAX_SECONDS:,}")
    if video_fps is not None and not 0 < float(video_fps) <= 1000:
        raise WorkbookError(f"video fps {video_fps!r}: give frames per second between 0 and 1,000")
