"""visual_tokens() must equal what the real Qwen3VLProcessor produces, size for size."""

from __future__ import annotations

import pytest
from PIL import Image

from helpers.core.chat import prepare_inputs
from helpers.core.errors import WorkbookError
from helpers.core.fixtures import build_processor
from helpers.estimate.vision_tokens import parse_size, resized_size, vision_patches, visual_tokens

SIZES = [
    (2480, 3508),  # A4 at 300 dpi
    (3508, 2480),  # A4 landscape
    (1240, 1754),  # A4 at 150 dpi
    (1, 1),
    (10, 10),
    (31, 33),
    (64, 64),
    (255, 257),  # tiny: scaled up to min_pixels
    (320, 240),
    (448, 448),
    (640, 480),
    (1024, 768),
    (1920, 1080),
    (1000, 1000),
    (4000, 3000),
    (5000, 5000),
    (8192, 4096),  # over max_pixels: scaled down
    (6000, 30),
    (30, 6000),
    (4000, 25),
    (1999, 10),  # extreme aspect ratios (< 200:1)
    (16, 3000),
    (47, 49),
    (48, 48),
    (80, 16),
    (33, 33),
    (97, 63),  # rounding edges (banker's round at .5)
]
LIMITS = [
    (None, 1024 * 1024),
    (None, 256 * 32 * 32),
    (128 * 32 * 32, None),
    (4 * 32 * 32, 64 * 32 * 32),
    (None, 32 * 32),
]


@pytest.fixture(scope="module")
def processor():
    return build_processor()


def _processor_tokens(image_processor, w, h, **size):
    img = Image.new("RGB", (w, h), (120, 30, 200))
    kwargs = {
        "size": {
            "shortest_edge": size.get("lo", image_processor.size["shortest_edge"]),
            "longest_edge": size.get("hi", image_processor.size["longest_edge"]),
        }
    }
    out = image_processor(images=[img], return_tensors="pt", **kwargs)
    t, gh, gw = (int(v) for v in out["image_grid_thw"][0])
    return out["pixel_values"].shape[0], t * gh * gw // image_processor.merge_size**2


@pytest.mark.parametrize("w,h", SIZES)
def test_matches_image_processor(processor, w, h):
    patches, tokens = _processor_tokens(processor.image_processor, w, h)
    assert visual_tokens(w, h) == tokens
    assert vision_patches(w, h) == patches


@pytest.mark.parametrize("lo,hi", LIMITS)
@pytest.mark.parametrize("w,h", [(2480, 3508), (640, 480), (20, 4000), (50, 50)])
def test_matches_with_user_pixel_limits(processor, w, h, lo, hi):
    ip = processor.image_processor
    kw = {k: v for k, v in (("lo", lo), ("hi", hi)) if v is not None}
    _, tokens = _processor_tokens(ip, w, h, **kw)
    assert visual_tokens(w, h, min_pixels=lo, max_pixels=hi) == tokens


def test_full_processor_expands_image_pads(processor):
    """Through the chat template: the <|image_pad|> run in input_ids has our count, images in order."""
    sizes = [(2480, 3508), (640, 480), (30, 3000)]
    images = [Image.new("RGB", s) for s in sizes]
    inputs = prepare_inputs(
        processor, images, "Read these.", size={"shortest_edge": 65536, "longest_edge": 1 << 20}
    )
    ids = inputs["input_ids"][0].tolist()
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    start = processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")
    runs, i = [], 0
    while i < len(ids):
        if ids[i] == start:
            j = i + 1
            while ids[j] == pad:
                j += 1
            runs.append(j - i - 1)
            i = j
        i += 1
    assert runs == [visual_tokens(w, h, max_pixels=1 << 20) for w, h in sizes]


def test_resized_size_is_a_multiple_of_32_and_capped():
    for w, h in SIZES:
        rw, rh = resized_size(w, h)
        assert rw % 32 == 0 and rh % 32 == 0
        assert rw * rh <= 16_777_216


@pytest.mark.parametrize("bad", ["2480", "axb", "2480x", "-5x10", "0x10", "10x3000"])
def test_bad_sizes_are_one_line_errors(bad):
    with pytest.raises(WorkbookError) as err:
        parse_size(bad)
    assert "\n" not in str(err.value)


def test_bad_limits():
    with pytest.raises(WorkbookError):
        visual_tokens(100, 100, min_pixels=10_000, max_pixels=100)


def test_one_estimator_for_one_image_a_pair_or_a_list():
    sizes = [(640, 480), (2480, 3508)]
    one = [visual_tokens(w, h, max_pixels=1 << 20) for w, h in sizes]
    assert visual_tokens(sizes, max_pixels=1 << 20) == one
    assert visual_tokens(sizes[1], max_pixels=1 << 20) == one[1] == 988
    assert visual_tokens([]) == []
