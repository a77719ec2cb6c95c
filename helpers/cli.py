"""The one command, `qwen3vl`, with a subcommand for every tool the workbook has.

Each subcommand lives with its stage (``helpers/<stage>/cli.py`` or the module it drives) and is imported
only when it runs, so ``qwen3vl --help`` is instant. Exit codes everywhere: 0 ok, 1 problems found,
2 bad input or unusable. No traceback reaches the user: any unexpected error becomes one line naming
what failed; ``--debug`` (or ``QWEN3VL_DEBUG=1``) shows the traceback instead.

Example:
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: qwen3vl ...
    0
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import sys

# name -> (module with main(argv, prog), arguments put before the user's, one-line help)
COMMANDS: dict[str, tuple[str, list[str], str]] = {
    "run": (
        "helpers.core.runner",
        ["run"],
        "execute the notebooks into build/ and print a table (what `make run` does)",
    ),
    "compare": (
        "helpers.core.compare",
        [],
        "compare two run records: differing figures and the environment differences (exit 1 if they differ)",
    ),
    "fixtures": (
        "helpers.core.fixtures",
        [],
        "build or reuse the tiny offline checkpoints (`fixtures build --json`)",
    ),
    "memory": (
        "helpers.estimate.cli",
        [],
        "estimate weights, KV cache, visual tokens and peak memory; place on GPUs",
    ),
    "doctor": (
        "helpers.checkpoints.cli",
        [],
        "diagnose a checkpoint folder, or write a repaired, verified copy",
    ),
    "infer": ("helpers.infer.cli", [], "ask the model (tiny, Hub id, folder or http endpoint) about images"),
    "plan-serving": (
        "helpers.serve.cli",
        ["plan-serving"],
        "plan a vLLM/SGLang deployment: memory per GPU, KV-cache tokens, launch command",
    ),
    "batch": (
        "helpers.serve.cli",
        ["batch"],
        "send a document set to OpenAI-compatible endpoints; resumable JSONL results",
    ),
    "speed": (
        "helpers.infer.speed_cli",
        [],
        "decode roofline of a model on a GPU profile; measured bench decode",
    ),
    "grounding": (
        "helpers.cases.grounding",
        [],
        "Qwen3-VL boxes/points (0-1000 grid) to original-image pixels: `grounding to-pixels`",
    ),
    "redact": ("helpers.safety.cli", ["redact"], "redact identifiers from a report: stdin -> stdout"),
    "scan": ("helpers.safety.cli", ["scan"], "flag prompt-injection text in stdin"),
    "progress": ("helpers.learn.progress", [], "your exercise progress per chapter, from .cache/ (`--json`)"),
}
DEBUG_ENV = "QWEN3VL_DEBUG"


def usage() -> str:
    """The top-level help: every subcommand with its one line."""
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {helptext}" for name, (_, _, helptext) in COMMANDS.items())
    return (
        "usage: qwen3vl [--debug] COMMAND [ARGS ...]\n\n"
        "The Qwen3-VL loading workbook's tools. `qwen3vl COMMAND --help` gives each one's options.\n\n"
        f"commands:\n{rows}\n\n"
        f"exit codes: 0 ok, 1 problems found, 2 bad input. --debug or {DEBUG_ENV}=1 shows tracebacks."
    )


def main(argv: list[str] | None = None) -> int:
    """Dispatch `qwen3vl COMMAND ARGS`; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if args and args[0] == "--debug":
        debug, args = True, args[1:]
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, prefix, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
        return int(module.main(prefix + rest, prog=f"qwen3vl {name}") or 0)
    except SystemExit as stop:  # argparse: --help is 0, a usage error is 2
        return stop.code if isinstance(stop.code, int) else 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`qwen3vl ... | head`): nothing left to tell it
        _silence_stdout()
        return 2
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EPIPE, errno.EBADF) and _is_stdout_error(err):
            print(
                f"error: qwen3vl {name}: cannot write the output ({err.strerror}): "
                "free space or fix the pipe",
                file=sys.stderr,
            )
            return 2
        if debug:
            raise
        return _last_net(name, err)
    except Exception as err:  # the last net: one line, never a traceback, unless asked for
        if debug:
            raise
        return _last_net(name, err)


def _last_net(name: str, err: BaseException) -> int:
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    print(
        f"error: qwen3vl {name}: {type(err).__name__}: {first} (rerun with --debug for the traceback)",
        file=sys.stderr,
    )
    return 2


def _is_stdout_error(err: OSError) -> bool:
    """True when the failing write was stdout's (the error was raised while printing the result)."""
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return err.errno in (errno.ENOSPC, errno.EPIPE)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
