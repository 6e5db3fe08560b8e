# Two commands for a fresh machine: `make demo` and `make test`. Both use ./.venv. The demo
# runs again and again: each sweep is named from its spec and the time it started.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Extra pip arguments, e.g. PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
PIP_ARGS ?=

.PHONY: demo ui test lint bench bench-families clean

$(BIN)/tunelab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_ARGS) -e '.[dev]'
	@touch $@

demo: $(BIN)/tunelab
	$(BIN)/tunelab sweep search_spaces/cnn_digits.yaml

ui: $(BIN)/tunelab
	$(BIN)/tunelab ui

# The layers first (seconds): a package importing one above it fails before any test runs.
test: $(BIN)/tunelab
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

lint: $(BIN)/tunelab
	$(BIN)/ruff check platform tests benchmarks dashboards
	$(BIN)/ruff format --check platform tests benchmarks dashboards
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(BIN)/tunelab
	$(BIN)/python benchmarks/overhead.py

# Every ready spec at its default budget, and the adding problem's LSTM/RNN contrast (~1 h).
bench-families: $(BIN)/tunelab
	$(BIN)/python benchmarks/ready_specs.py
	$(BIN)/python benchmarks/adding.py

clean:
	rm -rf $(VENV) mlflow.db mlflow.db.lock mlruns tunelab_results
