# Two commands for a fresh machine (both safe to run twice):
#   make up    install everything, bring the local platform up and verify it
#   make test  install everything and run the whole suite
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export TF_CLI_CONFIG_FILE ?= /dev/null

.PHONY: up down verify drill test lint install system-deps tools bench clean

install: $(STAMP) system-deps tools

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

system-deps:
	scripts/install-system-deps.sh

tools: $(STAMP)
	$(PY) scripts/install-helm.py
	scripts/install-checkov.sh

up: install
	$(VENV)/bin/obsctl up
	$(VENV)/bin/obsctl verify

verify:
	$(VENV)/bin/obsctl verify

drill:
	$(VENV)/bin/obsctl verify --fire-drill

down:
	$(VENV)/bin/obsctl down

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check obsctl tests bench app
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: install lint
	$(VENV)/bin/pytest

bench: install
	scripts/install-system-deps.sh wrk
	$(PY) bench/startup.py
	$(PY) bench/up.py
	$(PY) bench/app_throughput.py
	$(PY) bench/validate_kps.py
	$(PY) bench/render.py
	$(PY) bench/slo_rules.py

clean:
	-$(VENV)/bin/obsctl down --purge
	rm -rf .obsctl .pytest_cache .ruff_cache
