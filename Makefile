# The two commands: `make run` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every optional-dependency group of pyproject.toml, comma-separated (test, and whatever else lands).
EXTRAS = $(shell $(BIN)/python -c "import tomllib; print(','.join(tomllib.load(open('pyproject.toml','rb'))['project'].get('optional-dependencies', {})))")

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

# The hub on its embedded defaults: SQLite at ./var/flexhub.db, http://127.0.0.1:8400
# Simulated devices (Modbus SunSpec battery and PV, OPC UA, IEC 61850) run beside the hub;
# opt out with FLEXHUB_SIMULATE_DEVICES=false make run.
run: $(STAMP)
	mkdir -p var
	FLEXHUB_SIMULATE_DEVICES=$${FLEXHUB_SIMULATE_DEVICES:-true} $(BIN)/flexhub serve

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check core adapters gateway conformance tests bench
	$(BIN)/mypy core

bench: $(STAMP)
	$(BIN)/python bench/rest_ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache
