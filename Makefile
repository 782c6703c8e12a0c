# The quick start is two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
SYSTEM_PACKAGES := chromium postgresql postgresql-15-postgis-3 redis-server

.PHONY: run test lint install system-deps bench bench-deps soak freshness clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Chromium (browser tests) and PostgreSQL+PostGIS come from Debian packages; only root can
# install them, and nothing is installed when they are already present.
system-deps:
	@if [ "$$(id -u)" = 0 ] && ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

run: install
	$(BIN)/finder demo --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check finder tests
	$(BIN)/mypy

test: install system-deps lint
	$(BIN)/python -m pytest -q

# The benchmark's Python dependencies are pinned in bench/requirements.txt; wrk and
# PostgreSQL+PostGIS come from Debian packages, installed (as root) only when missing.
BENCH_PACKAGES := wrk postgresql postgresql-15-postgis-3
BENCH_ARGS ?=
SOAK_ARGS ?=

$(VENV)/.bench-installed: bench/requirements.txt | $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $@

bench-deps: install $(VENV)/.bench-installed
	@if [ "$$(id -u)" = 0 ] && ! dpkg -s $(BENCH_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BENCH_PACKAGES) >/dev/null; \
	fi

bench: bench-deps
	BENCH_COMMAND="make bench$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" $(BIN)/python -m bench.run $(BENCH_ARGS)

# 10 minutes at 80% of the measured throughput, 100k listings, imports running (bench/README.md).
soak: bench-deps
	SOAK_COMMAND="make soak$(if $(SOAK_ARGS), SOAK_ARGS='$(SOAK_ARGS)')" $(BIN)/python -m bench.soak $(SOAK_ARGS)

# Search latency while a 20k backlog is applied; lag of four concurrent imports (bench/README.md).
freshness: bench-deps
	FRESHNESS_COMMAND="make freshness" $(BIN)/python -m bench.freshness

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
