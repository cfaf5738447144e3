# One-command set-up: every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build; a looser spec could pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/biogan demo --out demo_output

test: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/expression_pbmc.py
	$(BIN)/python benchmarks/compare_pbmc.py
	$(BIN)/python benchmarks/impute.py
	$(BIN)/python benchmarks/augment_pbmc.py
	$(BIN)/python benchmarks/augment_tabular.py
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/tables.py
	$(BIN)/python benchmarks/reliability.py --out benchmarks/results/reliability.md

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) demo_output .pytest_cache
