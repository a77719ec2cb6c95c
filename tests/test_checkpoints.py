"""Checkpoint doctor: every failure mode is built, diagnosed, and (where the data allows) repaired to a
model whose logits equal the healthy one's; the source is never modified; failed repairs leave nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fuzz_support import tree_hash

from helpers.checkpoints import RepairError, diagnose, repair
from helpers.checkpoints.faults import FAULTS, make_variant
from helpers.checkpoints.verify import max_abs_diff, reference_logits
from helpers.core.fixtures import build_fixture
from helpers.core.paths import ROOT

# The specification, written here and NOT read from helpers.checkpoints.faults: fault -> (the finding the
# doctor must report, whether the folder is harmless, whether repair can fix it). A module that changes its
# own fault table cannot make this test agree with it.
EXPECTED = {
    "adapter-only": ("adapter-only", False, False),
    "auto-map": ("auto-map-remote-code", False, True),
    "config-torch-dtype": ("config-torch-dtype", True, True),
    "dcp": ("dcp-checkpoint", False, False),
    "deepspeed": ("deepspeed-checkpoint", False, False),
    "dtype-fp32": ("dtype-drift", False, True),
    "experts-per-expert": ("experts-per-expert", False, True),
    "experts-release-layout": ("experts-release-layout", True, True),
    "experts-square-release": ("experts-ambiguous-square", False, True),
    "file-header-beyond": ("file-header-beyond-file", False, False),
    "file-header-corrupt": ("file-header-corrupt", False, False),
    "file-lfs-pointer": ("file-lfs-pointer", False, False),
    "file-no-format": ("missing-format-metadata", False, True),
    "file-trailing-bytes": ("data-not-covered", False, True),
    "file-truncated": ("file-truncated", False, False),
    "index-duplicate": ("duplicate-tensor", False, True),
    "index-missing-shard": ("index-missing-shard", False, False),
    "index-orphan-shard": ("index-orphan-shard", False, True),
    "index-total-size": ("index-total-size", False, True),
    "index-unsafe-path": ("index-unsafe-path", False, True),
    "legacy-layout": ("legacy-layout", False, True),
    "lm-head-missing": ("lm-head-missing", False, False),
    "model-type-dense": ("model-type-mismatch", False, True),
    "pickle-bin": ("pickle-bin", False, True),
    "pickle-unsafe": ("pickle-unsafe", False, False),
    "prefix-fsdp": ("prefix-fsdp", False, True),
    "prefix-module": ("prefix-module", False, True),
    "prefix-orig-mod": ("prefix-orig-mod", False, True),
    "prefix-peft": ("prefix-peft", False, True),
    "processor-missing": ("processor-files-missing", False, True),
    "shape-mismatch": ("shape-mismatch", False, False),
    "vocab-size": ("vocab-size-mismatch", False, True),
}


def test_every_fault_has_a_specification():
    assert set(FAULTS) == set(EXPECTED)


def test_healthy_fixture_is_healthy():
    report = diagnose(build_fixture("tiny-moe"))
    assert report.healthy, str(report)
    assert report.tensors == 70


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_diagnosed_and_repaired(name, tmp_path):
    variant = make_variant(name, tmp_path / "faults")
    fault = variant.fault
    code, harmless, repairable = EXPECTED[name]
    report = diagnose(variant.path)
    assert report.has(code), str(report)
    assert report.healthy == harmless, str(report)
    assert report.repairable == repairable, str(report)
    before = tree_hash(variant.path)
    dst = tmp_path / "fixed"
    if repairable:
        result = repair(
            variant.path,
            dst,
            base=variant.reference,
            reference=variant.reference,
            progress=False,
            **fault.repair_kwargs,
        )
        assert result.verified and result.max_abs_diff == 0.0  # logits of dst == logits of the healthy model
        left = [f.code for f in diagnose(dst).findings if f.severity != "info"]
        assert set(left) <= {"experts-ambiguous-square"} and (not left or fault.square)
    else:
        with pytest.raises(RepairError):
            repair(variant.path, dst, base=variant.reference, progress=False)
        assert not dst.exists()
    assert tree_hash(variant.path) == before, "the source was modified"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".fixed")] == []


@pytest.mark.parametrize(
    "name", ["prefix-orig-mod", "experts-per-expert", "legacy-layout", "model-type-dense"]
)
def test_silent_damage_is_real(name, tmp_path):
    """Plain from_pretrained loads these without an error, yet the logits differ from the healthy model."""
    variant = make_variant(name, tmp_path)
    assert max_abs_diff(reference_logits(variant.reference), reference_logits(variant.path)) > 1e-3


def test_key_mapping_fixes_orig_mod_and_fast_init_does_not(tmp_path):
    variant = make_variant("prefix-orig-mod", tmp_path)
    ref = reference_logits(variant.reference)
    assert max_abs_diff(ref, reference_logits(variant.path, key_mapping={r"^_orig_mod\.": ""})) == 0.0
    assert max_abs_diff(ref, reference_logits(variant.path, _fast_init=False)) > 1e-3


def test_square_experts_without_layout_refused_and_wrong_layout_caught(tmp_path):
    variant = make_variant("experts-square-release", tmp_path)
    with pytest.raises(RepairError, match="expert_layout"):
        repair(variant.path, tmp_path / "a", progress=False)
    with pytest.raises(RepairError, match="differ"):  # the wrong guess is caught by the logits proof
        repair(
            variant.path, tmp_path / "b", expert_layout="memory", reference=variant.reference, progress=False
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_repair_with_reference_and_small_shards_streams(tmp_path):
    variant = make_variant("prefix-module", tmp_path)
    result = repair(
        variant.path, tmp_path / "out", reference=variant.reference, max_shard_bytes=200_000, progress=False
    )
    assert result.max_abs_diff == 0.0
    shards = list((tmp_path / "out").glob("*.safetensors"))
    assert len(shards) > 3
    index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == result.bytes_written


def test_repair_refuses_existing_dst_and_interrupt_leaves_nothing(tmp_path, monkeypatch):
    variant = make_variant("prefix-module", tmp_path)
    (tmp_path / "taken").mkdir()
    with pytest.raises(RepairError, match="exists"):
        repair(variant.path, tmp_path / "taken", progress=False)
    import helpers.core.safetensors_io as io

    calls = {"n": 0}
    original = io.ShardWriter.write

    def interrupt(self, name, tensor):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return original(self, name, tensor)

    monkeypatch.setattr(io.ShardWriter, "write", interrupt)
    before = tree_hash(variant.path)
    with pytest.raises(KeyboardInterrupt):
        repair(variant.path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prefix-module", "taken"]
    assert tree_hash(variant.path) == before


def test_cli_exit_codes(tmp_path, capsys):
    from helpers.checkpoints.cli import main

    assert main(["diagnose", str(build_fixture("tiny-moe")), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["healthy"] is True
    variant = make_variant("prefix-orig-mod", tmp_path)
    assert main(["diagnose", str(variant.path)]) == 1 and "prefix-orig-mod" in capsys.readouterr().out
    assert main(["diagnose", str(tmp_path / "nope")]) == 2 and capsys.readouterr().err.startswith("error: ")
    bad = make_variant("file-truncated", tmp_path)
    assert main(["repair", str(bad.path), str(tmp_path / "never")]) != 0 and not (tmp_path / "never").exists()
    # one real `python -m` run: exit 0 only when DST is complete and verified against the reference
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers",
            "doctor",
            "repair",
            str(variant.path),
            str(tmp_path / "fixed"),
            "--reference",
            str(variant.reference),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert diagnose(tmp_path / "fixed").healthy
