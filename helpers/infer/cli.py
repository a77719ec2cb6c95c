"""`qwen3vl infer`: the command line of helpers.infer.generate."""

from __future__ import annotations

import argparse
import json
import sys

from helpers.core.arguments import ascii_float, ascii_int
from helpers.core.errors import WorkbookError, cli_exit
from helpers.infer.backends import LocalBackend, is_http, make_backend
from helpers.infer.limits import check_image, check_numbers, check_prompt


def _load(backend: LocalBackend, setting: str | None) -> None:
    """Load the model now, so that a damaged checkpoint is one line naming it (and the doctor), not a
    traceback."""
    try:
        backend.model_and_processor  # noqa: B018 - loads once, lazily
    except WorkbookError:
        raise
    except Exception as err:  # noqa: BLE001 - any loading failure of a local folder is the folder's fault
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise WorkbookError(
            f"--model {setting}: cannot load it ({type(err).__name__}: {first}); "
            f"run `qwen3vl doctor diagnose {setting}` to see what is wrong"
        ) from None


def main(argv: list[str] | None = None, prog: str = "qwen3vl") -> int:
    """`qwen3vl infer`: answer one prompt about one or more images, locally or via HTTP."""
    parser = argparse.ArgumentParser(prog=prog, description="Ask Qwen3-VL about images.")
    parser.add_argument(
        "--model",
        default=None,
        help="tiny, a Hub id, a local folder, or http(s)://host:port of an OpenAI-compatible server "
        "(default: $QWEN3VL_MODEL or tiny)",
    )
    parser.add_argument("--image", action="append", required=True, help="an image file; repeat for several")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--max-new-tokens", type=ascii_int, default=64)
    parser.add_argument("--max-pixels", type=ascii_int, default=None, help="per-image pixel budget (upper)")
    parser.add_argument("--min-pixels", type=ascii_int, default=None, help="per-image pixel budget (lower)")
    parser.add_argument("--served-model", default=None, help="the model's name on the server (HTTP only)")
    parser.add_argument(
        "--timeout", type=ascii_float, default=120.0, help="seconds per HTTP request (HTTP only)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print answer, tokens and seconds as one JSON object"
    )
    args = parser.parse_args(argv)
    try:
        # every limit first, before any model is loaded (helpers.infer.limits)
        check_numbers(args.max_new_tokens, args.min_pixels, args.max_pixels, args.timeout)
        check_prompt(args.prompt)
        for image in args.image:
            check_image(image)
        extra = {"timeout_s": args.timeout} if is_http(args.model) else {}
        backend = make_backend(args.model, served_model=args.served_model, **extra)
        if isinstance(backend, LocalBackend):
            _load(backend, args.model)
        budget = {
            k: v
            for k, v in (("min_pixels", args.min_pixels), ("max_pixels", args.max_pixels))
            if v is not None
        }
        result = backend.generate(args.image, args.prompt, max_new_tokens=args.max_new_tokens, **budget)
    except WorkbookError as err:
        return cli_exit(err)
    if args.json:
        print(
            json.dumps(
                {
                    "answer": result.text,
                    "prompt_tokens": result.prompt_tokens,
                    "visual_tokens": result.visual_tokens,
                    "new_tokens": result.new_tokens,
                    "seconds": round(result.seconds, 3),
                    "model": backend.name,
                    "random_weights": backend.random_weights,
                },
                ensure_ascii=False,
            )
        )
    else:
        if backend.random_weights:
            print("note: RANDOM-weight model: the answer below is noise, not an answer", file=sys.stderr)
        print(result.text)
    return 0
