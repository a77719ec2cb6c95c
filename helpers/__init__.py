"""Helpers for the Qwen3-VL loading workbook: one package, grouped by stage, the folders mirroring the chapters.

Data flows one way, and a stage imports only from the stages before it (tests/test_layout.py checks it):

    core → estimate → load → infer → checkpoints → safety → cases

| stage         | chapters | modules |
|---------------|----------|---------|
| `core`        | 00, all  | model (the one model resolver), configs, chat, fixtures, safetensors_io, records, paths, errors, units, tables, fonts, hardware, environment, runner |
| `estimate`    | 01       | census, vision_tokens, video_tokens, memory, placement, memory_check, cli |
| `load`        | 02, 03   | loading, device_maps, anatomy, offload, monitor, claims |
| `infer`       | 05, 06   | inputs (budgets), generate, backends, serving, structured, sampling, video_inputs (07), cli |
| `checkpoints` | 04       | doctor, repair, verify, faults, keys, config_checks, report, walkthrough, cli |
| `safety`      | 08       | redaction, injection, policy, middleware, cli |
| `cases`       | 07–09    | documents, doc_render, ocr, evaluation, pipeline, medical_docs, financial_docs, domain_checks, long_documents, grounding, grounding_truth, video_case (07) |

`helpers/cli.py` is the one command, `qwen3vl` (also `python -m helpers`), with a subcommand per tool.
"""
