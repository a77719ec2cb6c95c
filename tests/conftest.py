"""Shared test set-up: offline, headless, and the tiny fixtures built once per session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def fixture_paths():
    """name -> folder of the tiny checkpoints (built or reused)."""
    from helpers.core.fixtures import build_fixtures

    return build_fixtures()


@pytest.fixture(scope="session")
def tiny_moe(fixture_paths):
    return fixture_paths["tiny-moe"]


@pytest.fixture(scope="session")
def tiny_dense(fixture_paths):
    return fixture_paths["tiny-dense"]


@pytest.fixture(scope="session")
def processor():
    """The real Qwen3VLProcessor built from Qwen's tokenizer files and the release's preprocessor config."""
    from helpers.core.fixtures import build_processor

    return build_processor()


def pytest_addoption(parser):
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        default=False,
        help="run the CLI fuzzer (tests/test_cli_fuzz.py) with at least 3,000 cases",
    )
