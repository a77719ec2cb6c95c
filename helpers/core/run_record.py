"""A run's record: which machine, libraries, model and commit produced the figures, and the figures
themselves.

`qwen3vl run` writes it to build/run-record.json; `qwen3vl compare A.json B.json` compares two of them;
data/reference/run-record.json is the embedded default's reference (`make reference` regenerates it).

Example:
    >>> fp = environment_fingerprint()
    >>> fp["packages"]["transformers"]["pinned"]
    '5.23.0'
    >>> record = build_record([], model="tiny")          # doctest: +SKIP
    >>> sorted(record)                                     # doctest: +SKIP
    ['created', 'environment', 'git', 'model', 'notebooks', 'schema', 'seeds']
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from helpers.core.paths import BUILD_DIR, DATA_DIR, ROOT
from helpers.core.records import collect_figures

SCHEMA = 1
RECORD_PATH = BUILD_DIR / "run-record.json"
REFERENCE_PATH = DATA_DIR / "reference" / "run-record.json"
_PIN = re.compile(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*==\s*([^;\s]+)")


class RecordError(ValueError):
    """A run record that cannot be read; the message is one line that says what to change."""


def pinned_packages() -> dict[str, dict[str, str]]:
    """Every `name==version` pin of pyproject.toml with the version installed here ('not installed' if
    absent).

    Example:
        >>> pinned_packages()["torch"]["pinned"]
        '2.14.1'
    """
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = {}
    for dep in deps:
        match = _PIN.match(dep)
        if not match:
            continue
        name, pin = match.groups()
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            installed = "not installed"
        out[name] = {"pinned": pin, "installed": installed}
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _gpus() -> list[dict[str, Any]]:
    """Name, total memory, driver and compute capability of each NVIDIA GPU (nvitop), [] without one."""
    from helpers.core.environment import nvidia_devices

    gpus = []
    for d in nvidia_devices():
        cc = d.cuda_compute_capability()
        gpus.append(
            {
                "name": str(d.name()),
                "memory_total_bytes": int(d.memory_total()),
                "driver": str(d.driver_version()),
                "compute_capability": ".".join(map(str, cc)) if isinstance(cc, tuple) else str(cc),
            }
        )
    return gpus


def environment_fingerprint() -> dict[str, Any]:
    """Python, OS, CPU, RAM, torch and its CUDA, every pinned package, and the GPUs of this machine.

    Example:
        >>> environment_fingerprint()["cpu"]["count"] >= 1
        True
    """
    import psutil
    import torch

    return {
        "python": platform.python_version(),
        "os": _os_name(),
        "platform": platform.platform(),
        "cpu": {"model": _cpu_model(), "count": os.cpu_count()},
        "ram_bytes": int(psutil.virtual_memory().total),
        "torch": {
            "version": torch.__version__,
            "cuda": torch.version.cuda,
            "cuda_available": bool(torch.cuda.is_available()),
        },
        "packages": pinned_packages(),
        "gpus": _gpus(),
    }


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as one level: {"a": {"b": 1}, "c": [2]} -> {"a.b": 1, "c.0": 2}.

    Example:
        >>> flatten({"a": {"b": 1}, "c": [2]})
        {'a.b': 1, 'c.0': 2}
    """
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in items:
        out |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def fingerprint_table(fingerprint: dict[str, Any] | None = None):
    """The fingerprint as a two-column DataFrame (key, value), packages shown as 'installed (pin X)'."""
    import pandas as pd

    fp = dict(fingerprint or environment_fingerprint())
    packages = fp.pop("packages", {})
    rows = [{"key": k, "value": v} for k, v in flatten(fp).items()]
    if not fp.get("gpus"):
        rows.append({"key": "gpus", "value": "none (CPU only)"})
    for name, v in packages.items():
        same = v["installed"] == v["pinned"]
        rows.append(
            {"key": f"package {name}", "value": v["installed"] + ("" if same else f" (pin {v['pinned']})")}
        )
    return pd.DataFrame(rows)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _shard_hashes(folder: Path) -> dict[str, str]:
    """sha256 of each weight file; a Hub cache symlink into blobs/ already names its sha256."""
    hashes = {}
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        target = path.resolve()
        cached = target.parent.name == "blobs" and re.fullmatch(r"[0-9a-f]{64}", target.name)
        hashes[path.name] = target.name if cached else _sha256(target)
    return hashes


def model_identity(setting: str | None = None) -> dict[str, Any]:
    """The model setting and a content hash: the fixture's recipe fingerprint for tiny, shard sha256s
    otherwise.

    Example:
        >>> model_identity("tiny")["hash_kind"]
        'fixture recipe'
    """
    from helpers.core.model import model_setting, select_model

    choice = select_model(model_setting(setting), build=False)
    out: dict[str, Any] = {
        "setting": choice.spec,
        "kind": choice.kind,
        "random_weights": choice.random_weights,
    }
    if choice.kind == "tiny":
        from helpers.core.configs import TINY_ALIASES
        from helpers.core.fixtures import _fingerprint

        out |= {"hash_kind": "fixture recipe", "hash": _fingerprint(TINY_ALIASES[choice.spec])}
        return out
    folder = Path(choice.source)
    if choice.kind == "hub":
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(choice.source, "config.json")
        folder = Path(found).parent if isinstance(found, str) else folder
    shards = _shard_hashes(folder) if folder.is_dir() else {}
    whole = hashlib.sha256(json.dumps(shards, sort_keys=True).encode()).hexdigest()[:16] if shards else None
    return out | {"hash_kind": "shard sha256", "hash": whole, "shards": shards}


def git_state() -> dict[str, Any]:
    """The project's commit and whether the work tree has uncommitted changes (None outside git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip() if commit else None, "dirty": bool(status.strip()) if status else False}


def seeds() -> dict[str, Any]:
    """The seeds that decide a run's data: the fixtures' weights and Python's hash seed."""
    from helpers.core.fixtures import SEED

    return {"fixtures": SEED, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED")}


def notebook_entry(status: str, seconds: float, executed: Path | None) -> dict[str, Any]:
    """One notebook's part of the record: status, seconds and the figures found in its executed copy."""
    figures = collect_figures(executed) if executed is not None and Path(executed).exists() else {}
    return {"status": status, "seconds": round(float(seconds), 2), "figures": figures}


def build_record(rows: list[Any], model: str | None = None) -> dict[str, Any]:
    """The whole record for executed notebooks (`NotebookRun` rows: name, seconds, status, output)."""
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(["qwen3vl", *sys.argv[1:]]) if sys.argv and sys.argv[0] else "qwen3vl run",
        "environment": environment_fingerprint(),
        "model": model_identity(model),
        "seeds": seeds(),
        "git": git_state(),
        "notebooks": {r.name: notebook_entry(r.status, r.seconds, r.output) for r in rows},
    }


def write_record(record: dict[str, Any], path: Path = RECORD_PATH) -> Path:
    """Write a record as indented JSON, atomically (a temporary sibling renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_record(path: str | Path) -> dict[str, Any]:
    """Read a record; RecordError with one line when it is missing, not JSON, or not a run record."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file; give the path of a run-record.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(f"{path}: not a readable JSON run record ({type(err).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), dict):
        raise RecordError(f"{path}: not a run record (no 'notebooks' object); `qwen3vl run` writes one")
    for name, entry in data["notebooks"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("figures", {}), dict):
            raise RecordError(f"{path}: notebook {name!r} has no figures object; regenerate the record")
    return data
