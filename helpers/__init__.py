"""Helpers for the Qwen3-VL loading workbook: one package, grouped by stage, the folders mirroring the chapters.

Data flows one way, and a stage imports only from the stages before it (tests/test_layout.py checks it):

    core → estimate → load → infer → checkpoints → safety → cases

| stage         | chapters | modules |
|---------------|----------|---------|
| `core`        | 00, all  | model (the one model resolver), configs, config_rules, chat, fixtures, safetensors_io, records, paths, errors, units, tables, fonts, hardware, environment, runner |
| `estimate`    | 01       | census, vision_tokens, memory, placement, memory_check, cli |
| `load`        | 02, 03   | loading, device_maps, anatomy, offload, monitor, claims |
| `infer`       | 05, 06   | inputs (budgets), limits (request limits), generate, backends, serving, structured, cli |
| `checkpoints` | 04       | doctor, findings, scan (non-finite / hash scan), repair, verify, faults, keys, config_checks, report, walkthrough, cli |
| `safety`      | 08       | redaction, injection, policy, middleware, cli |
| `cases`       | 07–09    | documents, doc_render, ocr, evaluation, pipeline, medical_docs, financial_docs, domain_checks, long_documents |

`helpers/cli.py` is the one command, `qwen3vl` (also `python -m helpers`), with a subcommand per tool.
"""
