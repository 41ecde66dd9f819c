# `make test` and `make demo` do all the set-up they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
FORGE ?= github
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
JS_RUNNERS := tests/fixtures/js-runners
JS_STAMP := $(VENV)/js-runners/.installed-$(shell cat $(JS_RUNNERS)/package-lock.json | cksum | cut -d' ' -f1)

.PHONY: test demo bench setup system-deps clean

test: setup $(JS_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) demo.py --forge $(FORGE) $(if $(SCENARIO),--scenario $(SCENARIO))

bench: setup
	$(PY) bench/webhook.py
	$(PY) bench/e2e.py

setup: system-deps $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

# jest and vitest from npm (not in Debian) for the runner tests, at the versions the lock file pins
$(JS_STAMP): $(JS_RUNNERS)/package-lock.json $(STAMP)
	rm -rf $(VENV)/js-runners && mkdir -p $(VENV)/js-runners
	cp $(JS_RUNNERS)/package.json $(JS_RUNNERS)/package-lock.json $(VENV)/js-runners/
	cd $(VENV)/js-runners && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
