"""Helpers for the Qwen3-VL loading workbook: one package, grouped by stage, the folders mirroring the
chapters.

Data flows one way, and a stage imports only from the stages before it (tests/test_layout.py checks it):

    core → estimate → load → infer → checkpoints → safety → cases → serve → learn

Stage (chapters): modules
- `core` (00, all): model (the one model resolver), configs, config_rules, chat, fixtures, safetensors_io,
  records, run_record, compare, arguments, paths, errors, units, tables, banner, fonts, hardware,
  environment, runner
- `estimate` (01): census, vision_tokens, video_tokens, memory, placement, memory_check, cli
- `load` (02, 03): loading, device_maps, anatomy, offload, quantisation, monitor, claims
- `infer` (05, 07): inputs (budgets), limits (request limits), generate, backends, serving, structured,
  sampling, cli; for 05: roofline, speed, batching, prefill, recommend, speed_plots, speed_cli;
  for 07: video_inputs
- `checkpoints` (04): doctor, findings, scan (non-finite and hash scan), keys (names, layouts), repair,
  verify, faults, config_checks, report, walkthrough, cli
- `safety` (08): redaction, injection, policy, middleware, cli
- `cases` (07-09): harness (the one comparison), docset, documents, doc_render, ocr, ocr_baselines,
  evaluation, pipeline, medical_docs, financial_docs, domain_checks, long_documents, grounding,
  grounding_truth, video_case
- `serve` (06): profile_run, plan, commands, logs, journal, fleet, stub, parity, figures, cli
- `learn` (00-09, exercises): registry, judges, checker, progress, ch00, ch01, ch02, ch03, ch04, ch05, ch06,
  ch07, ch08, ch09

`helpers/cli.py` is the one command, `qwen3vl` (also `python -m helpers`), with a subcommand per tool.
"""
