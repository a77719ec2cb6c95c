"""The model setting: tiny, a folder, a Hub id; clear one-line errors for everything else."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers.core.errors import ModelSelectionError
from helpers.core.model import ENV_VAR, select_model


def test_default_is_tiny_and_labelled_random(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    choice = select_model("")
    assert choice.kind == "tiny" and choice.random_weights and "RANDOM" in choice.label and choice.is_moe


def test_environment_variable_selects(monkeypatch, tiny_dense):
    monkeypatch.setenv(ENV_VAR, str(tiny_dense))
    choice = select_model()
    assert choice.kind == "local" and not choice.random_weights and choice.source == str(tiny_dense)


def test_parameter_beats_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "/nowhere")
    assert select_model("tiny-dense").kind == "tiny"


def test_hub_id_offline_and_uncached_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSelectionError) as err:
        select_model("Qwen/Qwen3-VL-30B-A3B-Instruct")
    message = str(err.value)
    assert "\n" not in message and ENV_VAR in message and "tiny" in message and "offline" in message.lower()
    assert err.value._render_traceback_() == [f"ModelSelectionError: {message}"]


@pytest.mark.parametrize("spec", ["not a model", "/no/such/folder", "./missing"])
def test_bad_settings_name_the_setting_and_the_default(spec):
    with pytest.raises(ModelSelectionError) as err:
        select_model(spec)
    assert ENV_VAR in str(err.value) and "tiny" in str(err.value)


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelSelectionError, match="no config.json"):
        select_model(str(tmp_path))


def test_unknown_model_in_a_notebook_is_one_line_not_a_traceback():
    code = "from helpers.core.model import select_model; select_model('no/such-model')"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""}
    )
    assert out.returncode != 0 and "ModelSelectionError" in out.stderr and "huggingface_hub" not in out.stderr


def test_one_choice_carries_its_config_and_a_config_file_is_a_meta_only_setting():
    from helpers.core.configs import load_config_dict
    from helpers.core.model import model_config
    from helpers.core.paths import CONFIGS_DIR

    path = CONFIGS_DIR / "Qwen3-VL-8B-Instruct.json"
    choice = select_model(str(path), weights=False)
    assert choice.kind == "config" and choice.config == load_config_dict(path) and choice.name == path.stem
    assert select_model(path.stem, weights=False).config == choice.config  # a stored config by name
    hub = select_model("Qwen/Qwen3-VL-30B-A3B-Instruct", weights=False)  # known: no cache needed
    assert hub.kind == "hub" and hub.config["model_type"] == "qwen3_vl_moe" and hub.is_moe
    assert select_model(hub) is hub and model_config(hub) is hub.config
    assert model_config("tiny-dense")["model_type"] == "qwen3_vl" and not select_model("tiny-dense").is_moe
    with pytest.raises(ModelSelectionError, match="config file: it has no weights"):
        select_model(str(path))  # loading needs weights


@pytest.mark.parametrize("bad", ["data/configs/preprocessor_config.json", "no-such-config"])
def test_bad_meta_only_setting_is_one_model_selection_error(bad):
    with pytest.raises(ModelSelectionError) as err:
        select_model(bad, weights=False, what="--model")
    assert str(err.value).startswith(f"--model={bad!r}") and "\n" not in str(err.value)
