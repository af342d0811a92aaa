# Two entry points for a fresh clone: `make run` and `make test`. Both create .venv and
# install what they need; re-running only reinstalls when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared
# The seed case: the shared contract copy when it is beside the checkout, else our example.
SEED   := $(firstword $(wildcard $(SHARED)/cases/seed-cadm.yaml) examples/seed-cadm.yaml)

.PHONY: run test lint bench assess browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

# The registry web app on 127.0.0.1:8000 with the embedded SQLite database; on first start it
# creates demo users and loads the example cases as demo patients, and prints the URL and login.
run: $(VENV)/.installed-run
	IFNSCOPE_DEMO=1 $(BIN)/ifnscope serve --host 127.0.0.1 --port 8000

# The seed case's assessment in the terminal.
assess: $(VENV)/.installed-run
	$(BIN)/ifnscope assess $(SEED)

# Debian's Chromium for the browser tests (apt, when missing); the tests skip loudly without it.
browser:
	@bash tools/install-browser.sh

test: $(VENV)/.installed-dev browser
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_assess.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
