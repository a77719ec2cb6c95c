"""GPU check of the estimator: full-size Qwen3-VL-30B-A3B with random bf16 weights built on the GPU.

No download: the model is built with accelerate's `init_empty_weights` (parameters on meta, buffers
real), then each parameter gets empty storage on the GPU and a random init (accelerate's
`set_module_tensor_to_device`). For prefill at 1K/8K/32K text tokens with 0, 1 and 4 A4 pages
(capped at max_pixels=2**20 and uncapped) it measures `torch.cuda.max_memory_allocated` (+ the CUDA
context seen by `mem_get_info`) against `estimate_peak_memory`, and decode tokens/s; then decode
tokens/s with the experts of some decoder layers offloaded to CPU by accelerate's `dispatch_model`
(issue 4's figure). Target: peak within max(5%, 500 MiB). Not run in the session that wrote it (no GPU).

Speed section (chapter 05): decode tokens/s at batch 1 and 16 for each experts backend Transformers can
dispatch here (and flash attention when installed), and the prefill of one uncapped A4 page, each beside
the H200 roofline (datasheet bandwidth / bytes per step from the census) and the measured copy bandwidth's.

Run: ``python benchmarks/gpu_check.py`` (one H200, < 8 min) or ``--cpu-smoke`` (tiny config on CPU,
seconds). Last line ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.core.configs import build_config  # noqa: E402
from helpers.core.model import model_config  # noqa: E402
from helpers.core.units import MIB  # noqa: E402
from helpers.estimate.memory import estimate_peak_memory  # noqa: E402

A4 = (2480, 3508)


def build_random(cfg: dict, device: str):
    """The real class, parameters created directly on `device` with random bf16 values."""
    import torch
    from accelerate import init_empty_weights
    from accelerate.utils import set_module_tensor_to_device
    from transformers import AutoModelForImageTextToText

    with init_empty_weights(include_buffers=False):
        model = AutoModelForImageTextToText.from_config(build_config(cfg), dtype=torch.bfloat16)
    gen = torch.Generator(device=device).manual_seed(0)
    for name, p in list(model.named_parameters()):
        value = torch.empty(p.shape, dtype=torch.bfloat16, device=device)
        if "norm" in name:
            value.fill_(1.0)
        else:
            value.normal_(0.0, 0.02, generator=gen)
        set_module_tensor_to_device(model, name, device, value=value)
    return model.to(device).eval()


def inputs_for(processor, words: int, images: list, cap: int | None, device: str):
    from PIL import Image

    from helpers.core.chat import prepare_inputs

    imgs = [Image.new("RGB", s, (200, 200, 200)) for s in images]
    return prepare_inputs(processor, imgs, " ".join(["word"] * words), max_pixels=cap).to(device)


def measure(model, inputs, device: str, new: int) -> dict:
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=1, do_sample=False)
    if cuda:
        torch.cuda.synchronize()
    prefill_s = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() if cuda else 0
    t = time.perf_counter()
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=new + 1, min_new_tokens=new + 1, do_sample=False)
    if cuda:
        torch.cuda.synchronize()
        peak = max(peak, torch.cuda.max_memory_allocated())
    decode_tps = new / max(time.perf_counter() - t - prefill_s, 1e-6)
    return {"peak_allocated": peak, "prefill_s": prefill_s, "decode_tok_s": decode_tps}


def speed_section(model, cfg: dict, processor, device: str, batches: tuple[int, ...], new: int) -> list[dict]:
    """Decode tok/s per experts backend (and flash attention) and batch; A4 prefill; fractions of the
    roofline."""
    import torch

    from helpers.core.chat import _apply_template, chat_messages
    from helpers.infer.roofline import (
        gpu_bandwidths,
        measure_host_bandwidth,
        prefill_floor_s,
        roofline_tokens_per_s,
    )
    from helpers.infer.speed import available_backends, set_backends, timed_generate

    datasheet = gpu_bandwidths()["H200-141GB"]
    measured_bw = measure_host_bandwidth(1024 if device == "cuda" else 64, 5, device)
    text = " ".join(["word"] * 200)
    rows = []
    ok = available_backends(device)
    attns = ["sdpa"] + [a for a in ok["attn"] if a.startswith("flash")]
    for attn in attns:
        for experts in (
            ok["experts"] if attn == "sdpa" else ["grouped_mm" if "grouped_mm" in ok["experts"] else "eager"]
        ):
            set_backends(model, experts, attn)
            for b in batches:
                inputs = _apply_template(processor, [chat_messages([], text)] * b, {"padding": True}).to(
                    device
                )
                timed_generate(model, inputs, 3)  # warm-up
                r = timed_generate(model, inputs, new)
                ctx = r["prompt_tokens"] + new
                roof = roofline_tokens_per_s(cfg, datasheet, b, ctx)
                rows.append(
                    {
                        "what": f"decode {experts}/{attn}",
                        "batch": b,
                        "tok_s": round(r["decode_tok_s"], 1),
                        "roofline_H200_tok_s": round(roof, 1),
                        "fraction": round(r["decode_tok_s"] / roof, 3),
                        "fraction_of_measured_bw": round(
                            r["decode_tok_s"] / roofline_tokens_per_s(cfg, measured_bw, b, ctx), 3
                        ),
                    }
                )
    set_backends(model, "grouped_mm" if "grouped_mm" in ok["experts"] else "eager", "sdpa")
    inputs = inputs_for(processor, 16, [A4] if device == "cuda" else [(320, 452)], None, device)
    pre = timed_generate(model, inputs, 3)
    floor = prefill_floor_s(cfg, datasheet, pre["prompt_tokens"], images=True)
    rows.append(
        {
            "what": "prefill one A4 page" if device == "cuda" else "prefill one small page",
            "batch": 1,
            "tok_s": round(pre["prefill_tok_s"], 1),
            "roofline_H200_tok_s": round(pre["prompt_tokens"] / floor, 1),
            "fraction": round(floor / pre["prefill_s"], 3),
            "fraction_of_measured_bw": round(floor * datasheet / measured_bw / pre["prefill_s"], 3),
        }
    )
    if device == "cuda":
        torch.cuda.empty_cache()
    return rows


def offload_decode(model, cfg: dict, inputs, device: str, layers_off: int, new: int) -> float:
    """Decode tokens/s with the last `layers_off` decoder layers kept on CPU (accelerate's offload hooks)."""
    from accelerate import dispatch_model

    main = 0 if device.startswith("cuda") else "cpu"
    n = cfg["text_config"]["num_hidden_layers"]
    dmap = {
        "model.visual": main,
        "model.language_model.embed_tokens": main,
        "model.language_model.norm": main,
        "model.language_model.rotary_emb": main,
        "lm_head": main,
    }
    for i in range(n):
        dmap[f"model.language_model.layers.{i}"] = "cpu" if i >= n - layers_off and main != "cpu" else main
    model = model.to("cpu") if main != "cpu" else model
    model = dispatch_model(model, device_map=dmap, main_device=main)
    return measure(model, inputs, device, new)["decode_tok_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="same code path, tiny config on CPU, seconds")
    ap.add_argument("--quick", action="store_true", help="on the GPU: contexts of 1K and 8K tokens only")
    args = ap.parse_args()
    import torch

    from helpers.core.chat import visual_tokens_of
    from helpers.core.fixtures import build_processor

    start = time.perf_counter()
    if args.cpu_smoke:
        cfg, device, words, pages, new, layers_off = model_config("tiny"), "cpu", [32], [(320, 452)], 2, 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("error: no CUDA device; run with --cpu-smoke here")
        cfg, device, words, pages, new, layers_off = (
            model_config("Qwen/Qwen3-VL-30B-A3B-Instruct"),
            "cuda",
            [1024, 8192] if args.quick else [1024, 8192, 32768],
            [A4],
            16,
            8,
        )
        free0, _ = torch.cuda.mem_get_info()
    model = build_random(cfg, device)
    context_bytes = 0
    if device == "cuda":
        free1, total = torch.cuda.mem_get_info()
        context_bytes = (total - free1) - torch.cuda.memory_reserved()
    processor = build_processor()
    rows = []
    for n_words in words:
        cases = (
            [(0, None), (1, 1 << 16)]
            if args.cpu_smoke
            else [(0, None), (1, 1 << 20), (1, None), (4, 1 << 20), (4, None)]
        )
        for n_img, cap in cases:
            inputs = inputs_for(processor, n_words, pages * n_img, cap, device)
            m = measure(model, inputs, device, new)
            prompt = int(inputs["input_ids"].shape[1])
            vis = visual_tokens_of(inputs, processor.image_processor.merge_size)
            est = estimate_peak_memory(
                cfg,
                "bfloat16",
                prompt - sum(vis) + new + 1,
                1,
                pages * n_img,
                max_pixels=cap,
                device="cuda",
                overhead_bytes=0,
                slack_fraction=0.0,
            )
            pred = est.peak_bytes
            meas = m["peak_allocated"]
            rows.append(
                {
                    "text": n_words,
                    "images": n_img,
                    "cap": cap,
                    "tokens": prompt,
                    "pred_MiB": pred / MIB,
                    "meas_MiB": meas / MIB,
                    "err": (pred - meas) / meas if meas else None,
                    "ok": abs(pred - meas) <= max(0.05 * meas, 500 * MIB) if meas else None,
                    **m,
                }
            )
            del inputs
    speed = speed_section(
        model, cfg, processor, device, (1, 2) if args.cpu_smoke else (1, 16), 4 if args.cpu_smoke else 32
    )
    inputs = inputs_for(processor, words[0], [], None, device)
    tps_gpu = rows[0]["decode_tok_s"]
    tps_off = offload_decode(model, cfg, inputs, device, layers_off, new)
    print(
        f"{'text':>6s} {'img':>3s} {'cap':>8s} {'tokens':>7s} {'pred MiB':>10s} {'meas MiB':>10s} "
        f"{'err':>7s} {'prefill s':>9s} {'dec tok/s':>9s}"
    )
    for r in rows:
        err = "" if r["err"] is None else f"{100 * r['err']:+6.1f}%"
        print(
            f"{r['text']:6d} {r['images']:3d} {str(r['cap']):>8s} {r['tokens']:7d} {r['pred_MiB']:10.0f} "
            f"{r['meas_MiB']:10.0f} {err:>7s} {r['prefill_s']:9.2f} {r['decode_tok_s']:9.1f}"
        )
    print(f"{'speed':34s} {'batch':>5s} {'tok/s':>9s} {'H200 roof':>9s} {'fraction':>8s} {'of meas.':>8s}")
    for r in speed:
        print(
            f"{r['what']:34s} {r['batch']:5d} {r['tok_s']:9.1f} {r['roofline_H200_tok_s']:9.1f} "
            f"{r['fraction']:8.3f} {r['fraction_of_measured_bw']:8.3f}"
        )
    errs = [abs(r["err"]) for r in rows if r["err"] is not None]
    result = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "smoke": args.cpu_smoke,
        "cases": len(rows),
        "cuda_context_MiB": round(context_bytes / MIB, 1),
        "median_abs_peak_err": round(sorted(errs)[len(errs) // 2], 4) if errs else None,
        "all_within_target": all(r["ok"] for r in rows) if errs else None,
        "decode_tok_s_all_gpu": round(tps_gpu, 2),
        f"decode_tok_s_{layers_off}_layers_on_cpu": round(tps_off, 2),
        "speed": speed,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
