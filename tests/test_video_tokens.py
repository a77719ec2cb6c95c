"""Video tokens from helpers.estimate.video_tokens against the real Qwen3VLProcessor (numpy frames)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from helpers.core.errors import WorkbookError
from helpers.estimate.video_tokens import (
    parse_video,
    timestamps,
    video_grid,
    video_text_tokens,
    video_tokens,
)

# (width, height, seconds, clip fps or None for no metadata, sampling kwargs, cap_pixels_per_frame)
CASES = [
    (640, 480, 8, 2, {}, False),
    (1280, 720, 2, 30, {}, False),
    (1920, 1080, 10, 30, {}, True),
    (1920, 1080, 10, 30, {}, False),
    (854, 480, 10, 30, {}, False),
    (854, 480, 10, 30, {}, True),
    (640, 360, 33, 24, {}, False),
    (640, 360, 33, 24, {}, True),
    (1920, 1080, 3, 60, {}, False),
    (1920, 1080, 3, 60, {}, True),
    (1280, 720, 61, 25, {}, True),
    (1280, 720, 61, 25, {}, False),
    (320, 240, 1, 30, {}, False),  # shorter than min_frames / fps: min 4 frames
    (720, 1280, 5, 30, {}, True),  # portrait
    (1000, 50, 4, 10, {}, False),  # very wide, scaled up to the pixel floor
    (1280, 720, 4.5, 29.97, {}, False),  # odd frame count after sampling
    (1280, 720, 6, 30, {"fps": 1}, False),
    (1280, 720, 6, 30, {"fps": 4}, True),
    (1280, 720, 6, 30, {"num_frames": 7}, False),  # odd: the last frame repeats
    (1280, 720, 6, 30, {"num_frames": 16}, True),
    (640, 480, 12, None, {}, False),  # no metadata: the processor assumes 24 fps
    (3840, 2160, 2, 30, {}, True),
    (480, 480, 400, 2, {}, True),  # capped at max_frames=768? no: 800 frames at 2 fps -> 768
    (800, 600, 7, 15, {}, False),
]


@pytest.fixture(scope="module")
def processor():
    from helpers.core.fixtures import build_processor

    return build_processor()


def _run(processor, w, h, seconds, vfps, kwargs, cap):
    from transformers.video_utils import VideoMetadata

    n_total = int(round(seconds * (vfps or 24)))
    frames = np.broadcast_to(np.zeros((1, h, w, 3), np.uint8), (n_total, h, w, 3))
    call = dict(kwargs, cap_pixels_per_frame=cap, return_tensors="pt")
    if "num_frames" in kwargs:
        call["fps"] = None  # the processor's default fps=2 would clash with num_frames
    if vfps is not None:
        md = VideoMetadata(total_num_frames=n_total, fps=vfps, width=w, height=h, duration=seconds)
        call["video_metadata"] = [md]
    out = processor(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=[frames], **call)
    return out


@pytest.mark.parametrize("w,h,seconds,vfps,kwargs,cap", CASES)
def test_tokens_equal_processor(processor, w, h, seconds, vfps, kwargs, cap):
    out = _run(processor, w, h, seconds, vfps, kwargs, cap)
    ids = out["input_ids"][0].tolist()
    grid = tuple(int(x) for x in out["video_grid_thw"][0])
    assert video_grid(w, h, seconds, video_fps=vfps, cap_pixels_per_frame=cap, **kwargs) == grid
    pads = ids.count(processor.tokenizer.convert_tokens_to_ids("<|video_pad|>"))
    assert video_tokens(w, h, seconds, video_fps=vfps, cap_pixels_per_frame=cap, **kwargs) == pads
    # everything else the expansion adds: timestamps and per-patch vision markers
    assert len(ids) == 3 + pads + video_text_tokens(seconds, video_fps=vfps, **kwargs)
    text = processor.tokenizer.decode(ids)
    shown = re.findall(r"<(\d+\.\d) seconds>", text)
    assert shown == [f"{t:.1f}" for t in timestamps(seconds, video_fps=vfps, **kwargs)]


def test_at_least_twenty_cases_cover_both_cap_settings():
    assert len(CASES) >= 20
    assert {c[5] for c in CASES} == {True, False}


def test_cap_changes_long_clips():
    assert video_tokens(854, 480, 10, 30) == 320
    assert video_tokens(854, 480, 10, 30, cap_pixels_per_frame=True) == 1200


def test_parse_video_and_errors():
    assert parse_video("1280x720:60").video_fps == 30.0
    assert parse_video("1280x720:2.5@25").seconds == 2.5
    for bad in ("1280x720", "1280:60", "0x720:5", "1280x720:0", "1280x720:5@0"):
        with pytest.raises(WorkbookError):
            parse_video(bad)


def test_cli_video_json_agrees(capsys):
    from helpers.estimate.cli import main

    rc = main(
        [
            "--model",
            "tiny",
            "--context",
            "256",
            "--image",
            "640x480",
            "--video",
            "1280x720:2@30",
            "--video",
            "854x480:10",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["visual_tokens"] == [300, video_tokens(1280, 720, 2, 30), video_tokens(854, 480, 10, 30)]
    extra = video_text_tokens(2, 30) + video_text_tokens(10, 30)
    assert out["sequence_tokens"] == 256 + sum(out["visual_tokens"]) + extra
    assert main(["--model", "tiny", "--video", "1280x720"]) == 2
    assert "WIDTHxHEIGHT:SECONDS" in capsys.readouterr().err


def test_memory_grows_with_video_length():
    from helpers.estimate.memory import estimate_peak_memory
    from helpers.estimate.video_tokens import VideoSpec

    short = estimate_peak_memory("tiny", context_tokens=256, videos=[VideoSpec(1280, 720, 5)], device="cpu")
    long = estimate_peak_memory(
        "tiny", context_tokens=256, videos=[VideoSpec(1280, 720, 60)], device="cpu", cap_pixels_per_frame=True
    )
    assert short.visual_tokens == [video_tokens(1280, 720, 5)]
    assert long.kv_cache_bytes > short.kv_cache_bytes
    assert long.input_bytes > short.input_bytes
