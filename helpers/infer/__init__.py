"""Stage 3, chapters 05-07 (inference): pixel and token budgets (`inputs`), greedy generation (`generate`),
local and OpenAI-compatible HTTP backends (`backends`), a local `transformers serve` (`serving`), JSON answers
(`structured`) and the `qwen3vl infer` command (`cli`)."""
