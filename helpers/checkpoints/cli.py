"""CLI: ``qwen3vl doctor diagnose PATH [--json]`` (exit 0 healthy, 1 problems, 2 unusable input);
``qwen3vl doctor repair SRC DST [--base BASE] [--reference REF] [--expert-layout release|memory]``
(exit 0 only when DST is complete and verified; otherwise non-zero and no DST)."""

from __future__ import annotations

import argparse

from helpers.core.errors import WorkbookError, cli_exit
from helpers.core.units import fmt_mib


def main(argv: list[str] | None = None, prog: str = "qwen3vl") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("diagnose", help="say what is wrong with a checkpoint folder")
    d.add_argument("path")
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    r = sub.add_parser("repair", help="write a repaired, verified copy")
    r.add_argument("src")
    r.add_argument("dst")
    r.add_argument("--base", help="base-model folder to copy missing processor/tokenizer files from")
    r.add_argument("--reference", help="trusted checkpoint whose logits the repaired copy must equal")
    r.add_argument("--expert-layout", choices=["release", "memory"], help="layout of square expert tensors")
    args = parser.parse_args(argv)
    from .doctor import CheckpointInputError, diagnose
    from .repair import RepairInputError, repair

    try:
        if args.command == "diagnose":
            report = diagnose(args.path)
            print(report.to_json() if args.json else str(report))
            return 0 if report.healthy else 1
        result = repair(
            args.src, args.dst, base=args.base, reference=args.reference, expert_layout=args.expert_layout
        )
    except (CheckpointInputError, RepairInputError) as err:
        return cli_exit(err, 2)
    except WorkbookError as err:
        return cli_exit(err, 2 if args.command == "diagnose" else 1)
    print(
        f"repaired {args.src} -> {result.dst}: {result.tensors} tensors, {fmt_mib(result.bytes_written)}, "
        f"{result.seconds:.1f} s; verified (strict load" + (", logits equal" if args.reference else "") + ")"
    )
    return 0
