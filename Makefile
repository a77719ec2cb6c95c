# Two commands do all set-up: `make run` (execute every notebook) and `make test`.
# Each creates .venv and installs the project into it when missing, so either alone works.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: run test lab fixtures lint clean venv reference browser-check

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) tools/check_disk.py .
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir -e .
	@touch $(STAMP)

fixtures: $(STAMP)
	$(BIN)/qwen3vl fixtures build --json

run: $(STAMP)
	$(BIN)/qwen3vl run

# Regenerate data/reference/run-record.json: every notebook with the embedded default (after a merge that
# changes a chapter's figures, or adds a chapter). Commit the file it writes.
reference: $(STAMP)
	$(BIN)/qwen3vl run --update-reference

# The browser test drives Debian's Chromium; without it, say how to get it and fail (no silent skip).
browser-check:
	@test -x "$${QWEN3VL_CHROMIUM:-/usr/bin/chromium}" || { echo "make test: Chromium is missing; as root run \`apt-get update && apt-get install -y chromium\` (.ci/run does it)"; exit 1; }

test: $(STAMP) browser-check
	$(BIN)/ruff check helpers tests benchmarks tools notebooks
	$(BIN)/ruff format --check helpers tests benchmarks tools notebooks
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf build .cache
