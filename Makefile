# Two entry points for a fresh clone: `make run` and `make test`. Both create .venv and
# install what they need; re-running only reinstalls when pyproject.toml changes.

PYTHON ?= python3
LOCKFLAGS := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line -q
VENV   := .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared
# The seed case: the shared contract copy when it is beside the checkout, else our example.
SEED   := $(firstword $(wildcard $(SHARED)/cases/seed-cadm.yaml) examples/seed-cadm.yaml)

.PHONY: run test lint typecheck bench assess browser lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Pinned: requirements/*.txt hold the exact versions CI saw (`make lock` refreshes them).
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

$(VENV)/.installed-run: pyproject.toml requirements/run.txt | $(BIN)/python
	$(PIP) -c requirements/run.txt -e '.[web,pdf,fhir]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml requirements/dev.txt | $(BIN)/python
	$(PIP) -c requirements/dev.txt -e '.[all,dev]'
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
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# Re-resolve the pinned versions from pyproject.toml's ranges (newest that fit), then run
# `make test` before committing requirements/*.txt.
lock: $(VENV)/.installed-dev
	$(PIP) uv
	$(BIN)/uv pip compile pyproject.toml --extra web --extra pdf --extra fhir $(LOCKFLAGS) -o requirements/run.txt
	$(BIN)/uv pip compile pyproject.toml --extra all --extra dev $(LOCKFLAGS) -o requirements/dev.txt

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_assess.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
