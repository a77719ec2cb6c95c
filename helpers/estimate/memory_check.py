"""Measure one load + generate job in a fresh process and put it beside the estimate (CPU).

A subprocess imports the stack and builds the processor (its memory then is the measured overhead),
resets the kernel's peak counter (VmHWM), loads with `from_pretrained`, reads every parameter, prepares
the inputs through the chat template and runs `generate`. The estimate for the same job comes from
`helpers.estimate.memory.estimate_peak_memory(device="cpu")` with that measured overhead, so the comparison is
of the terms the estimator models: weights (bytes of the loaded storages), the job, and the peak.

Example:
    >>> row = compare_job(str(fixture_dir("tiny-moe")), words=100, images=[(640, 480)])  # doctest: +SKIP
    >>> abs(row["err"]["peak"]) < 0.10
    True
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from helpers.core.paths import ROOT

_CHILD = r"""
import json, re, sys, threading, time
import psutil, torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor
# import the model code first
from transformers import Qwen3VLForConditionalGeneration, Qwen3VLMoeForConditionalGeneration
from helpers.core.chat import _apply_template, chat_messages, prepare_inputs, visual_tokens_of
torch.set_num_threads(2)
folder, words, images, new = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
batch, experts = int(sys.argv[5]), sys.argv[6]
proc = psutil.Process()
rss = lambda: proc.memory_info().rss
def hwm():  # peak RSS since the last reset (VmHWM), bytes
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) * 1024
processor = AutoProcessor.from_pretrained(folder)
base = rss()  # measured overhead: interpreter + torch + transformers + processor, before the job
open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM: from here on it is this job's peak
model = AutoModelForImageTextToText.from_pretrained(
    folder, dtype=torch.bfloat16, experts_implementation=experts
).eval()
with torch.no_grad():
    touched = sum(float(p.float().sum()) for p in model.parameters())  # materialise every mmapped weight
storages = {}
for t in list(model.parameters()) + list(model.buffers()):
    if t.device.type != "meta":
        s = t.untyped_storage(); storages[s.data_ptr()] = s.nbytes()
after_load, peak_load = rss(), hwm()
imgs = [Image.effect_noise((w, h), 64).convert("RGB") for w, h in images]
text = " ".join(["word"] * words)
if batch == 1:
    inputs = prepare_inputs(processor, imgs, text)
else:  # the same request B times: equal lengths, no padding
    inputs = _apply_template(processor, [chat_messages(imgs, text)] * batch, {"padding": True})
after_prepare, peak_prepare = rss(), hwm()
t = time.perf_counter()
with torch.inference_mode():
    out = model.generate(**inputs, max_new_tokens=new, min_new_tokens=new, do_sample=False)
seconds = time.perf_counter() - t
vis = visual_tokens_of(inputs, processor.image_processor.merge_size)
input_bytes = sum(v.nelement() * v.element_size() for v in inputs.values() if hasattr(v, "nelement"))
print(json.dumps({"base": base, "storage": sum(storages.values()), "after_load": after_load,
                  "peak_load": peak_load, "after_prepare": after_prepare, "peak_prepare": peak_prepare,
                  "peak": hwm(), "input_bytes": input_bytes,
                  "prompt": int(inputs["input_ids"].shape[1]), "visual": vis[: len(images)],
                  "new": int(out.shape[1] - inputs["input_ids"].shape[1]), "seconds": seconds}))
"""


def measure_job(
    folder: str,
    words: int,
    images: list[tuple[int, int]],
    new_tokens: int = 4,
    batch: int = 1,
    experts_implementation: str = "grouped_mm",
) -> dict[str, Any]:
    """Run the job in a fresh subprocess (its own peak counter) and return its raw measurements in bytes.

    `batch` > 1 sends the same request `batch` times in one `generate`; `experts_implementation` goes to
    `from_pretrained` (ignored by a dense model).
    """
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(folder),
            str(words),
            json.dumps([list(s) for s in images]),
            str(new_tokens),
            str(batch),
            experts_implementation,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if res.returncode:
        raise RuntimeError(f"measuring {folder} failed: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def compare_job(
    folder: str,
    words: int,
    images: list[tuple[int, int]],
    new_tokens: int = 4,
    config: Any = None,
    batch: int = 1,
    experts_implementation: str = "grouped_mm",
) -> dict[str, Any]:
    """Measured against predicted for one job: weights, job (inputs, KV, activations, transients), peak.

    `config` defaults to the checkpoint folder's own config.json.
    """
    from helpers.estimate.memory import estimate_peak_memory, largest_shard_bytes

    m = measure_job(folder, words, images, new_tokens, batch, experts_implementation)
    context = m["prompt"] - sum(m["visual"]) + m["new"]
    est = estimate_peak_memory(
        config if config is not None else folder,
        "bfloat16",
        context,
        batch,
        [tuple(s) for s in images],
        device="cpu",
        experts_implementation=experts_implementation,
        overhead_bytes=m["base"],
        shard_bytes=largest_shard_bytes(folder),
    )  # the measured baseline, not a constant
    meas = {"weights": m["storage"], "job": m["peak"] - m["base"] - m["storage"], "peak": m["peak"]}
    pred = {
        "weights": est.weights_bytes,
        "job": est.peak_bytes - est.weights_bytes - m["base"],
        "peak": est.peak_bytes,
    }
    return {
        "visual": m["visual"],
        "visual_ok": m["visual"] == est.visual_tokens,
        "base": m["base"],
        "prompt": m["prompt"],
        "load_rss": m["after_load"] - m["base"],
        "inputs": m["input_bytes"],
        "pred_inputs": est.input_bytes,
        # VmHWM is cumulative: the first phase that reached the final peak set it
        "phase": "load"
        if m["peak_load"] == m["peak"]
        else "prepare"
        if m["peak_prepare"] == m["peak"]
        else "generate",
        "measured": meas,
        "predicted": pred,
        "err": {k: (pred[k] - meas[k]) / meas[k] if meas[k] else None for k in meas},
        "seconds": m["seconds"],
    }
