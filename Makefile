# Two entry points for a fresh clone: `make run` and `make test`. Both create .venv and
# install what they need; re-running only reinstalls when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared
# The seed case: the shared contract copy when it is beside the checkout, else our example.
SEED   := $(firstword $(wildcard $(SHARED)/cases/seed-cadm.yaml) examples/seed-cadm.yaml)

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/ifnscope assess $(SEED)

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_assess.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
