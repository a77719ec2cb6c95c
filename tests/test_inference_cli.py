"""The CLI against a local folder (the tiny checkpoint by path) and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers.cases.documents import vqa_documents
from helpers.estimate.vision_tokens import visual_tokens


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "helpers", "infer", *args], capture_output=True, text=True, timeout=180
    )


def test_cli_with_a_folder_and_two_images(tiny_moe):
    pair = next(d for d in vqa_documents() if d.kind == "receipt_pair")
    out = _cli(
        "--model",
        str(tiny_moe),
        "--image",
        str(pair.images[0]),
        "--image",
        str(pair.images[1]),
        "--prompt",
        "哪张收据的牛奶更便宜？",
        "--max-new-tokens",
        "3",
        "--max-pixels",
        str(256 * 256),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    sizes = [img.size for img in pair.open_images()]
    assert data["visual_tokens"] == [visual_tokens(w, h, max_pixels=256 * 256) for w, h in sizes]
    assert data["new_tokens"] == 3 and data["prompt_tokens"] > sum(data["visual_tokens"])
    assert set(data) >= {"answer", "prompt_tokens", "visual_tokens", "seconds"}
    assert data["random_weights"] is True  # the tiny fixture stays labelled random when given by path


def test_cli_errors_are_one_line_exit_2(tmp_path):
    out = _cli("--model", "tiny", "--image", str(tmp_path / "nope.png"), "--prompt", "x")
    assert out.returncode == 2 and out.stderr.strip().startswith("error: --image")
    assert len(out.stderr.strip().splitlines()) == 1
    out = _cli("--model", str(tmp_path), "--image", str(vqa_documents()[0].images[0]), "--prompt", "x")
    assert out.returncode == 2 and "no config.json" in out.stderr
