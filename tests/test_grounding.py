"""Grounding: parsing, grid -> pixels, IoU against generator ground truth, damaged answers, the CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from helpers.cases.grounding import (
    GroundingError,
    damaged,
    draw_grounding,
    iou,
    parse_grounding,
    to_grid,
    to_pixels,
)
from helpers.cases.grounding_truth import grounding_cases
from helpers.estimate.vision_tokens import resized_size


def test_parse_json_fenced_and_tagged_forms():
    fenced = '```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"point_2d": [5, 6], "label": "p"}]\n```'
    g = parse_grounding(fenced)
    assert g["boxes"] == [{"label": "a", "bbox": [1.0, 2.0, 3.0, 4.0]}]
    assert g["points"] == [{"label": "p", "point": [5.0, 6.0]}]
    single = parse_grounding('Here: {"bbox_2d": [10, 20, 30, 40]}')
    assert single["boxes"][0]["bbox"] == [10.0, 20.0, 30.0, 40.0]
    tagged = parse_grounding(
        "<|object_ref_start|>total<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>"
    )
    assert tagged["boxes"] == [{"label": "total", "bbox": [100.0, 200.0, 300.0, 400.0]}]
    assert parse_grounding("<ref>dot</ref><point>(7,8)</point>")["points"][0] == {
        "label": "dot",
        "point": [7.0, 8.0],
    }


@pytest.mark.parametrize(
    "bad", ["", "no boxes here", '[{"bbox_2d": [1, 2, 3]}]', '[{"bbox_2d": ["a", 2, 3, 4]}]', "[1, 2]"]
)
def test_malformed_answers_raise(bad):
    with pytest.raises(GroundingError):
        parse_grounding(bad)


def test_to_pixels_scales_clamps_and_orders():
    g = {
        "boxes": [{"label": "", "bbox": [500, 900, 100, 1100]}],
        "points": [{"label": "", "point": [1000, 0]}],
    }
    out = to_pixels(g, width=200, height=100)
    assert out["boxes"][0]["bbox"] == [20, 90, 100, 100]
    assert out["points"][0]["point"] == [200, 0]


def test_iou_basics():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (0, 0, 10, 5)) == 0.5


def test_truth_boxes_hold_ink_and_a_blank_ring():
    for case in grounding_cases():
        arr = np.asarray(case["image"].convert("L"))
        x1, y1, x2, y2 = case["box"]
        assert x2 > x1 and y2 > y1
        inside = arr[y1:y2, x1:x2]
        assert (inside < 160).any(), case["id"]
        if case["id"] != "imaging_region":  # document text: blank above, below and right of its value
            # (not left: the receipt prints "¥" right against the total)
            ring = np.concatenate([arr[y1 - 2, x1 : x2 + 2], arr[y2 + 1, x1 : x2 + 2], arr[y1:y2, x2 + 1]])
            assert (ring > 200).all(), case["id"]


def test_every_damage_scores_below_truth():
    for case in grounding_cases():
        w, h = case["image"].size
        grid = to_grid(case["box"], w, h)
        boxes = damaged(grid, w, h, resized_size(w, h, max_pixels=256 * 256))
        scores = {k: iou(v, case["box"]) for k, v in boxes.items()}
        assert scores["correct"] > 0.8, case["id"]
        for k in ("as_pixels", "resized_image", "x_y_swapped"):
            assert scores[k] < scores["correct"], (case["id"], k)


def test_draw_changes_pixels():
    case = grounding_cases()[0]
    w, h = case["image"].size
    px = to_pixels({"boxes": [{"label": "t", "bbox": to_grid(case["box"], w, h)}], "points": []}, w, h)
    drawn = draw_grounding(case["image"], px)
    assert drawn.size == case["image"].size
    assert np.asarray(drawn).tolist() != np.asarray(case["image"].convert("RGB")).tolist()


def test_cli_to_pixels(monkeypatch, capsys):
    from helpers.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO('[{"bbox_2d": [100, 200, 500, 400], "label": "total"}]'))
    assert main(["grounding", "to-pixels", "--width", "480", "--height", "600"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "boxes": [{"label": "total", "bbox": [48, 120, 240, 240]}],
        "points": [],
    }
    monkeypatch.setattr("sys.stdin", io.StringIO("not an answer"))
    assert main(["grounding", "to-pixels", "--width", "480", "--height", "600"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO('{"bbox_2d": [1, 2, 3, 4]}'))
    assert main(["grounding", "to-pixels", "--width", "0", "--height", "600"]) == 2
