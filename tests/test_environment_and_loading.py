"""Environment report, requirement checks, the strict loader and the claims of notebook 00."""

from __future__ import annotations

import importlib.metadata as md

import pytest

from helpers.core import chat, environment
from helpers.core.errors import LoadingReportError
from helpers.load import claims
from helpers.load.loading import LoadingReport, load_strict


def test_requirements_met_here():
    assert environment.missing_requirements() == []


def test_missing_package_gives_one_install_line(monkeypatch):
    real = md.version

    def fake(name):
        if name == "torchvision":
            raise md.PackageNotFoundError(name)
        return "4.40.0" if name == "transformers" else real(name)

    monkeypatch.setattr(environment.md, "version", fake)
    lines = environment.missing_requirements()
    assert any(line.startswith("install torchvision") for line in lines)
    assert any(line.startswith("install transformers>=5.0") and "4.40.0" in line for line in lines)
    assert all("\n" not in line for line in lines)


def test_gpu_summary_is_calm_without_gpu(capfd):
    summary = environment.gpu_summary()
    captured = capfd.readouterr()
    assert "NVML" not in captured.out + captured.err
    if not environment.gpu_devices():
        assert summary.startswith("no NVIDIA GPU found")


def test_report_has_versions():
    report = environment.environment_report()
    assert report["transformers"].startswith("5.") and report["torch"] != "not installed"


def test_loading_report_from_info():
    info = {"missing_keys": {"a"}, "unexpected_keys": {"b", "c"}, "mismatched_keys": [("d", (1,), (2,))]}
    report = LoadingReport.from_info(info)
    assert (report.missing, report.unexpected, report.mismatched) == (["a"], ["b", "c"], ["d"])
    assert not report.is_clean
    with pytest.raises(LoadingReportError, match="RANDOM"):
        report.raise_if_unclean("x")


def test_strict_loader_refuses_a_relabelled_moe(tiny_moe, tmp_path):
    folder = claims.relabel_as_dense(tiny_moe, tmp_path / "relabelled")
    with pytest.raises(LoadingReportError) as err:
        load_strict(str(folder))
    assert "missing" in str(err.value) and "unexpected" in str(err.value)
    assert (tiny_moe / "config.json").read_text().count("qwen3_vl_moe") >= 1  # original untouched


def test_claims_of_notebook_00(processor):
    import transformers
    from PIL import Image

    assert not hasattr(transformers, "AutoModelForVision2Seq")  # claim a
    image = Image.new("RGB", (64, 64))
    with pytest.raises(ValueError, match="image_pad"):  # claim g: a plain prompt with images fails
        processor(text="Describe this image.", images=[image], return_tensors="pt")
    ids = chat.prepare_inputs(processor, [image], "Describe this image.")["input_ids"]
    assert int((ids == processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")).sum()) == 1
    grid = processor.image_processor(images=[Image.new("RGB", (2480, 3508))])["image_grid_thw"][0].tolist()
    assert (grid[2] * 16, grid[1] * 16, grid[1] * grid[2] // 4) == (2496, 3520, 78 * 110)  # claim h
