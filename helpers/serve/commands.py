"""Launch commands from a plan: `vllm serve …` or `python -m sglang.launch_server …`, each flag with its
reason,
and the scale-out layouts (one node, two nodes with TP × PP, data-parallel replicas).

Flags are the engines' own: vLLM ``--tensor-parallel-size``, ``--pipeline-parallel-size``,
``--data-parallel-size``, ``--enable-expert-parallel``, ``--max-model-len``, ``--gpu-memory-utilization``,
``--kv-cache-dtype``, ``--limit-mm-per-prompt``, ``--mm-encoder-tp-mode data``, multi-node through Ray
(``--distributed-executor-backend ray``); SGLang ``--tp``, ``--pp-size``, ``--dp``, ``--ep-size``,
``--context-length``, ``--mem-fraction-static``, ``--kv-cache-dtype``, ``--nnodes``/``--node-rank``/
``--dist-init-addr``.

Example:
    >>> from helpers.serve.plan import plan_serving
    >>> A3B = "data/configs/Qwen3-VL-30B-A3B-Instruct.json"
    >>> p = plan_serving(A3B, "vllm", "2xH100-80GB", max_model_len=32768)
    >>> launch_command(p, "Qwen/Qwen3-VL-30B-A3B-Instruct").splitlines()[0]
    'vllm serve Qwen/Qwen3-VL-30B-A3B-Instruct \\\\'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.serve.plan import GIB, ServingPlan, plan_serving


def served_id(model: str) -> str:
    """The Hub id for a config in data/configs (``Qwen/<file stem>``), else the model as given.

    Example:
        >>> served_id("data/configs/Qwen3-VL-8B-Instruct.json")
        'Qwen/Qwen3-VL-8B-Instruct'
    """
    path = Path(model)
    return f"Qwen/{path.stem}" if path.suffix == ".json" and path.stem.startswith("Qwen3-VL") else model


def launch_flags(plan: ServingPlan, images_per_prompt: int = 1) -> list[tuple[str, str]]:
    """(flag, reason) pairs for the plan's engine, in the order they appear on the command line."""
    gib = plan.kv_cache_bytes_per_gpu / GIB
    videos = 1 if plan.profile_video else 0
    mm = json.dumps({"image": images_per_prompt, "video": videos}, separators=(",", ":"))
    if plan.engine == "vllm":
        flags = [
            (
                f"--tensor-parallel-size {plan.tp}",
                f"shards attention, MLP/experts and vocabulary over {plan.tp} GPUs",
            )
        ]
        if plan.pp > 1:
            flags.append(
                (
                    f"--pipeline-parallel-size {plan.pp}",
                    f"splits the layers into {plan.pp} stages (one per node)",
                )
            )
        if plan.dp > 1:
            flags.append((f"--data-parallel-size {plan.dp}", f"{plan.dp} replicas for throughput"))
        if plan.ep:
            flags.append(
                ("--enable-expert-parallel", f"whole experts per rank over EP = {plan.tp * plan.dp} ranks")
            )
        flags += [
            (
                f"--max-model-len {plan.max_model_len}",
                f"longest request; {plan.max_concurrency}x fit in the KV cache",
            ),
            (f"--gpu-memory-utilization {plan.memory_fraction}", f"leaves {gib:.1f} GiB of KV per GPU"),
            (
                f"--limit-mm-per-prompt '{mm}'",
                "images per prompt; one video, so the profile run reserves the largest video's encoder cache"
                if videos
                else "images per prompt; no video, so the profile run reserves less",
            ),
        ]
        if plan.encoder_dp:
            flags.append(
                (
                    "--mm-encoder-tp-mode data",
                    "vision tower replicated, images split across GPUs (Qwen recipe)",
                )
            )
        if plan.kv_cache_dtype.startswith("fp8"):
            flags.append(("--kv-cache-dtype fp8", "halves the KV bytes per token"))
        return flags
    if plan.ep and plan.dp > 1:  # SGLang: --tp counts every GPU; DP attention splits the attention part
        world = plan.tp * plan.dp
        flags = [
            (f"--tp {world}", f"all {world} GPUs in one engine"),
            (f"--dp {plan.dp}", f"{plan.dp} attention replicas"),
            ("--enable-dp-attention", "attention data-parallel, experts expert-parallel"),
            (f"--ep-size {world}", f"whole experts per rank over {world} ranks"),
        ]
    else:
        flags = [(f"--tp {plan.tp}", f"tensor parallel over {plan.tp} GPUs")]
        if plan.dp > 1:
            flags.append((f"--dp {plan.dp}", f"{plan.dp} replicas behind SGLang's router"))
        if plan.ep:
            flags.append((f"--ep-size {plan.tp}", f"whole experts per rank over {plan.tp} ranks"))
    if plan.pp > 1:
        flags.append((f"--pp-size {plan.pp}", f"{plan.pp} pipeline stages"))
    flags += [
        (f"--context-length {plan.max_model_len}", "longest request"),
        (
            f"--mem-fraction-static {plan.memory_fraction}",
            f"weights + KV share; leaves {gib:.1f} GiB KV per GPU",
        ),
    ]
    if plan.kv_cache_dtype.startswith("fp8"):
        flags.append(("--kv-cache-dtype fp8_e4m3", "halves the KV bytes per token"))
    return flags


def launch_command(
    plan: ServingPlan, model_id: str, nnodes: int = 1, node_rank: int = 0, head: str = "HEAD_IP"
) -> str:
    """The runnable command line for the plan (node `node_rank` of `nnodes`), one flag per line."""
    flags = launch_flags(plan)
    if plan.engine == "vllm":
        first = f"vllm serve {model_id}"
        if nnodes > 1:
            flags.append(
                ("--distributed-executor-backend ray", f"Ray spans the {nnodes} nodes (run on the head only)")
            )
    else:
        first = f"python -m sglang.launch_server --model-path {model_id}"
        if nnodes > 1:
            flags += [
                (f"--nnodes {nnodes}", "nodes in this deployment"),
                (f"--node-rank {node_rank}", "this node's rank (0 on the head)"),
                (f"--dist-init-addr {head}:50000", "rendezvous address on the head node"),
            ]
    lines = [first] + [f"  {flag}" for flag, _ in flags]
    return " \\\n".join(lines)


def flag_reasons(plan: ServingPlan, nnodes: int = 1):
    """The plan's flags with the reason for each, as a DataFrame (what the command line cannot say)."""
    import pandas as pd

    rows = launch_flags(plan)
    if nnodes > 1:
        rows.append(
            (
                "multi-node",
                "vLLM: Ray cluster + --distributed-executor-backend ray; SGLang: --nnodes/--node-rank",
            )
        )
    return pd.DataFrame(rows, columns=["flag", "reason"])


def ray_preamble(nnodes: int, head: str = "HEAD_IP") -> str:
    """The Ray cluster a multi-node vLLM launch needs: head first, then each worker node."""
    return "ray start --head --port 6379   # on the head node\n" + "\n".join(
        f"ray start --address {head}:6379   # on node {i}" for i in range(1, nnodes)
    )


def scale_out_plans(
    config: str, engine: str = "vllm", gpu: str = "H100-80GB", **kwargs: Any
) -> list[dict[str, Any]]:
    """The 235B-A22B-style scale-out layouts: one 8-GPU node (TP 8 + EP), two nodes (TP 8 × PP 2),
    and two data-parallel replicas of one node each; a row per layout with its arithmetic and command."""
    layouts = [
        ("one node: TP 8 + EP", dict(gpus=f"8x{gpu}", tp=8, ep=True), 1),
        ("two nodes: TP 8 x PP 2", dict(gpus=f"16x{gpu}", tp=8, pp=2), 2),
        ("two replicas: TP 8 x DP 2 + EP", dict(gpus=f"16x{gpu}", tp=8, dp=2, ep=True), 1),
    ]
    rows = []
    for name, layout, nnodes in layouts:
        plan = plan_serving(config, engine, **layout, **kwargs)
        rows.append(
            {
                "layout": name,
                "gpus": plan.gpus,
                "weights_gib_per_gpu": round(plan.weights_bytes_per_gpu / GIB, 1),
                "kv_gib_per_gpu": round(plan.kv_cache_bytes_per_gpu / GIB, 1),
                "kv_tokens_per_replica": plan.kv_cache_tokens,
                "max_concurrency": round(plan.max_concurrency * plan.dp, 2),
                "command": launch_command(plan, "Qwen/Qwen3-VL-235B-A22B-Instruct", nnodes=nnodes),
            }
        )
    return rows
