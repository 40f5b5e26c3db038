# fraudgraph: `make demo` runs the main job end to end; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,neo4j,gnn

.PHONY: install system-deps demo test lint typecheck check bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	@touch $(STAMP)

install: $(STAMP)

# Debian packages the test suite drives for real (compose validation, the Redis feature
# cache). Installed when missing and we are root; otherwise the tests that need them say so
# and skip. Each entry is package:command (the command checked on PATH).
APT_PACKAGES := docker-compose:docker-compose redis-server:redis-server
system-deps:
	@missing=""; for entry in $(APT_PACKAGES); do pkg=$${entry%%:*}; cmd=$${entry##*:}; command -v $$cmd >/dev/null || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "warning: missing$$missing (run as root to install); dependent tests will skip"; fi; \
	fi

demo: install
	$(BIN)/fraudgraph demo

test: install system-deps
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

bench: install
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache
