"""`qwen3vl plan-serving` (plan a vLLM/SGLang deployment) and `qwen3vl batch` (a document set through a
fleet of OpenAI-compatible endpoints, resumable).

Example:
    >>> main(["plan-serving", "--model", "data/configs/Qwen3-VL-30B-A3B-Instruct.json", "--engine", "vllm",
    ...       "--gpus", "1xH100-80GB", "--tp", "3"], prog="qwen3vl plan-serving")
    error: TP 3 does not divide the 32 attention heads: use a TP that divides 32
    2
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from helpers.core.arguments import ascii_float, ascii_int
from helpers.core.errors import WorkbookError, cli_exit

_SIZE = re.compile(r"^(\d+)[x×](\d+)$")


def _image(text: str) -> tuple[int, int]:
    m = _SIZE.match(text.strip())
    if not m or min(int(m.group(1)), int(m.group(2))) < 1:
        raise argparse.ArgumentTypeError(f"--image {text!r}: write WIDTHxHEIGHT, e.g. 1280x960")
    return int(m.group(1)), int(m.group(2))


def plan_main(argv: list[str], prog: str) -> int:
    from helpers.core.model import model_config
    from helpers.serve.commands import launch_command, launch_flags, served_id
    from helpers.serve.plan import GIB, plan_serving

    parser = argparse.ArgumentParser(
        prog=prog, description="Plan a vLLM or SGLang deployment (memory per GPU)."
    )
    parser.add_argument(
        "--model", required=True, help="a config (data/configs/…json), checkpoint folder or known id"
    )
    parser.add_argument("--engine", choices=["vllm", "sglang"], default="vllm")
    parser.add_argument("--gpus", required=True, help="COUNTxCARD, e.g. 8xH100-80GB")
    parser.add_argument(
        "--tp", type=ascii_int, default=None, help="tensor parallel size (default: GPUs / (PP×DP))"
    )
    parser.add_argument("--pp", type=ascii_int, default=1)
    parser.add_argument("--dp", type=ascii_int, default=1)
    parser.add_argument("--ep", action="store_true", help="expert parallel (MoE models)")
    parser.add_argument("--dtype", default="bfloat16", help="weights: bfloat16, fp8, int4 …")
    parser.add_argument("--max-model-len", type=ascii_int, default=None)
    parser.add_argument(
        "--gpu-memory-utilization", "--mem-fraction-static", dest="fraction", type=ascii_float, default=None
    )
    parser.add_argument("--kv-cache-dtype", default="auto")
    parser.add_argument(
        "--image", action="append", type=_image, default=[], help="WxH of an image per request"
    )
    parser.add_argument(
        "--video", action="store_true", help="allow one video per prompt (vLLM profiles the largest video)"
    )
    parser.add_argument("--text-tokens", type=ascii_int, default=512, help="text tokens per request")
    parser.add_argument("--output-tokens", type=ascii_int, default=512, help="generated tokens per request")
    parser.add_argument(
        "--served-id", default=None, help="model id for the launch command (default: --model)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        model_config(args.model)
        plan = plan_serving(
            args.model,
            args.engine,
            args.gpus,
            tp=args.tp,
            pp=args.pp,
            dp=args.dp,
            ep=args.ep,
            dtype=args.dtype,
            kv_cache_dtype=args.kv_cache_dtype,
            memory_fraction=args.fraction,
            max_model_len=args.max_model_len,
            images=args.image or None,
            text_tokens=args.text_tokens,
            output_tokens=args.output_tokens,
            profile_video=args.video,
        )
    except (WorkbookError, FileNotFoundError, KeyError) as err:
        return cli_exit(str(err).strip("'\""))
    command = launch_command(plan, args.served_id or served_id(str(args.model)))
    if args.json:
        print(
            json.dumps(
                {**plan.to_json(), "command": command, "flags": launch_flags(plan)}, ensure_ascii=False
            )
        )
        return 0
    print(
        f"{plan.engine} on {plan.gpus}x{plan.gpu}, TP {plan.tp} x PP {plan.pp} x DP {plan.dp}"
        f"{' + EP' if plan.ep else ''}"
    )
    breakdown = pd.DataFrame(
        [{"part": part, "GiB per GPU": round(gib, 2)} for part, gib in plan.breakdown_gib().items()]
    )
    print(breakdown.to_string(index=False))
    print(
        f"  KV cache: {plan.kv_cache_tokens:,} tokens; max concurrency at {plan.max_model_len:,} tokens: "
        f"{plan.max_concurrency}x; for the request mix ({plan.request_tokens:,} tokens): "
        f"{plan.concurrency_for_mix}x"
    )
    for note in plan.notes:
        print(f"  note: {note}")
    print(command)
    return 0 if plan.kv_cache_bytes_per_gpu > GIB // 8 else 1


def batch_main(argv: list[str], prog: str) -> int:
    from helpers.cases.documents import load_documents
    from helpers.serve.fleet import requests_for, run_fleet, score_results

    parser = argparse.ArgumentParser(
        prog=prog, description="Send a document set to OpenAI-compatible endpoints."
    )
    parser.add_argument(
        "--endpoint", action="append", required=True, help="http(s)://host:port; repeat for several"
    )
    parser.add_argument("--served-model", required=True, help="the model's name on the servers")
    parser.add_argument("--docs", required=True, help="a document folder (with ground_truth.json)")
    parser.add_argument("--out", required=True, help="results JSONL (appended; a rerun resumes)")
    parser.add_argument("--concurrency", type=ascii_int, default=4)
    parser.add_argument("--timeout", type=ascii_float, default=120.0, help="seconds per request")
    parser.add_argument("--retries", type=ascii_int, default=3)
    parser.add_argument("--max-new-tokens", type=ascii_int, default=128)
    parser.add_argument(
        "--retry-failed", action="store_true", help="try the documents recorded as failed again"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        bad = [u for u in args.endpoint if not u.startswith(("http://", "https://"))]
        if bad:
            raise WorkbookError(f"--endpoint {bad[0]}: give an http(s):// URL")
        if args.concurrency < 1 or args.retries < 0:
            raise WorkbookError("--concurrency must be at least 1 and --retries at least 0")
        docs = load_documents(Path(args.docs))
        run = run_fleet(
            requests_for(docs),
            args.endpoint,
            args.served_model,
            args.out,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            retries=args.retries,
            max_new_tokens=args.max_new_tokens,
            progress=not args.no_progress,
            retry_failed=args.retry_failed,
        )
    except WorkbookError as err:
        return cli_exit(err)
    print(run.summary().to_string(index=False))
    score = score_results(docs, args.out).aggregate.mean
    print(
        f"answered {run.answered}, failed {run.failed}, skipped (already done) {run.skipped}; "
        f"field score {score:.3f} -> {args.out}"
    )
    for note in run.notes:
        print(f"note: {note}")
    return 1 if run.failed else 0


def main(argv: list[str] | None = None, prog: str = "qwen3vl") -> int:
    """Dispatch `plan-serving ARGS` or `batch ARGS`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("plan-serving", "batch"):
        print("error: use `plan-serving` or `batch`", file=sys.stderr)
        return 2
    return (plan_main if args[0] == "plan-serving" else batch_main)(args[1:], prog)
