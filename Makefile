# Every target bootstraps .venv from the pinned set in requirements.lock by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench lab clean venv

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## demo: generate Company A demo data into data/demo.duckdb and audit every demo month
demo: $(STAMP)
	$(BIN)/slapolicy demo

## test: the whole suite
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

## bench: audit cost at 10k, 100k and 1M leads a month (figures, not tests; docs/performance.md)
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_audit.py $(BENCH_ARGS)

## lab: JupyterLab on loopback for analysts
lab: $(STAMP)
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --allow-root --ServerApp.root_dir=.

clean:
	rm -rf $(VENV) data audits/company-a .pytest_cache
