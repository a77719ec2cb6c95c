"""CLI: ``qwen3vl redact`` reads text on stdin and writes it redacted to stdout.

``qwen3vl scan`` prints the prompt-injection flags of stdin as JSON lines.
The redaction counts go to stderr (``--quiet`` silences them); exit code 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys

from helpers.core.errors import WorkbookError, cli_exit
from helpers.safety.injection import find_injections
from helpers.safety.redaction import KINDS, redact


def main(argv: list[str] | None = None, prog: str = "qwen3vl") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    red = sub.add_parser("redact", help="redact identifiers: stdin -> stdout")
    red.add_argument(
        "--keep", action="append", default=[], help="a kind to leave alone (e.g. EMAIL); repeatable"
    )
    red.add_argument("--quiet", action="store_true", help="do not print the counts to stderr")
    sub.add_parser("scan", help="flag prompt-injection text in stdin (JSON lines)")
    args = parser.parse_args(argv)
    try:
        unknown = sorted({k.upper() for k in getattr(args, "keep", [])} - KINDS)
        if unknown:
            raise WorkbookError(
                f"--keep {unknown[0]!r} is not a kind: choose from {', '.join(sorted(KINDS))}"
            )
        if sys.stdin is None or sys.stdin.closed:
            raise WorkbookError("stdin is closed: pipe the text in, e.g. `qwen3vl redact < report.txt`")
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise WorkbookError(
                "stdin is not UTF-8 text: convert it first (e.g. `iconv -f GB18030 -t UTF-8`)"
            ) from None
    except WorkbookError as err:
        return cli_exit(err)
    if args.command == "redact":
        result = redact(text, keep={k.upper() for k in args.keep})
        sys.stdout.write(result.text)
        if not args.quiet:
            print(json.dumps({"redacted": result.counts()}, ensure_ascii=False), file=sys.stderr)
        return 0
    for flag in find_injections(text):
        print(json.dumps({"rule": flag.rule, "line": flag.line, "excerpt": flag.excerpt}, ensure_ascii=False))
    return 0
