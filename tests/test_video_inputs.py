"""Video in practice: the fixture template vs the official one, the nested-marker layout, the video case."""

from __future__ import annotations

import pytest

from helpers.cases.video_case import QUESTIONS, make_clip, score_answers
from helpers.core.fixtures import CHAT_TEMPLATE
from helpers.estimate.video_tokens import timestamps, video_tokens
from helpers.infer.video_inputs import (
    OFFICIAL_USER_TEMPLATE,
    layout_diff,
    processor_ids,
    reference_ids,
    render,
    synthetic_frames,
    video_messages,
)

MESSAGES = [
    video_messages("What happens?"),
    [{"role": "user", "content": [{"video": "clip.mp4"}, {"text": "When?"}]}],
    [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "video"},
                {"type": "video"},
                {"type": "text", "text": "Q"},
            ],
        }
    ],
    [{"role": "user", "content": "plain"}],
]


@pytest.mark.parametrize("messages", MESSAGES)
@pytest.mark.parametrize("vision_id", [False, True])
def test_fixture_template_renders_like_official(messages, vision_id):
    official = render(OFFICIAL_USER_TEMPLATE, messages, add_generation_prompt=True, add_vision_id=vision_id)
    ours = render(CHAT_TEMPLATE, messages, add_generation_prompt=True, add_vision_id=vision_id)
    assert ours == official
    assert "<|video_pad|>" in official or "video" not in str(messages)


@pytest.fixture(scope="module")
def processor():
    from helpers.core.fixtures import build_processor

    return build_processor()


def test_nested_markers_differ_from_reference_by_the_outer_pair(processor):
    frames, meta = synthetic_frames(16, 4.0, 128, 96)
    text = processor.apply_chat_template(video_messages("What?"), add_generation_prompt=True, tokenize=False)
    ids, out = processor_ids(processor, frames, meta, text, cap_pixels_per_frame=False)
    ref = reference_ids(processor, text, out["video_grid_thw"][0], timestamps(4.0, 4.0))
    assert len(ids) == len(ref) + 2
    diff = layout_diff(ids, ref, processor.tokenizer)
    assert [d["5.23 tokens"] for d in diff] == [["<|vision_start|>"], ["<|vision_end|>"]]
    assert all(d["reference tokens"] == [] for d in diff)
    pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert ids.count(pad) == ref.count(pad) == video_tokens(128, 96, 4.0, 4.0)


def test_clip_truth_and_scores():
    clip = make_clip()
    assert clip.frames.shape[0] == 48 and clip.metadata.fps == 4.0
    assert clip.truth == {"word_at_5s": "RIVER", "alert_second": 7.0, "word_count": 6}
    # the ALERT box (red) is absent before 7 s and present from 7 s on
    red = lambda i: (clip.frames[i, 20, -80] == [220, 20, 20]).all()  # noqa: E731
    assert not red(27) and red(28)
    assert score_answers(clip, {k: str(v) for k, v in clip.truth.items()}) == dict.fromkeys(QUESTIONS, 1.0)
    assert score_answers(
        clip, {"word_at_5s": "TIGER", "alert_second": "9", "word_count": "six"}
    ) == dict.fromkeys(QUESTIONS, 0.0)
