"""Stage `serve` (chapter 06, serving at scale): plan vLLM/SGLang deployments, drive a fleet of endpoints.

plan (the engines' start-up memory arithmetic), commands (launch lines and scale-out layouts), logs (real
engine logs vs the plan), journal (the fsync'd JSONL results file), fleet (the batch client), stub (a fault
drill server), parity (served vs local answers), cli (`qwen3vl plan-serving`, `qwen3vl batch`).
"""
