# Two commands on a fresh machine: `make demo` runs a complete small experiment,
# `make test` runs the tests. Each bootstraps what it needs, once: the venv in .venv/,
# the chain tools in node_modules/. A second run skips what is there.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.bflray-installed
NODE_STAMP := node_modules/.bflray-installed
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
PIP_QUIET := --quiet --disable-pip-version-check
FLOWER_VENV := .venv-flower
FLOWER_STAMP := $(FLOWER_VENV)/.bflray-installed

.PHONY: demo test contracts clean setup bench flower-venv

demo: $(VENV_STAMP) $(NODE_STAMP)
	$(VENV)/bin/bflray run configs/demo.toml

test: $(VENV_STAMP) $(NODE_STAMP)
	$(FORGE) test --root . -q
	$(PY) -m pytest

contracts: $(VENV_STAMP) $(NODE_STAMP)
	$(PY) -m bflray.chain.artifacts build

setup: $(VENV_STAMP) $(NODE_STAMP)

# One pip command; the constraints file pins the CPU torch wheel (an unpinned torch pulls CUDA).
$(VENV_STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -c constraints.txt -e '.[test]' 2>&1 | grep -v 'is ignored: it is neither' || true
	$(PY) -c "import bflray, torch, ray, web3" 
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Benchmarks are not tests: run on demand, one JSON line per measurement.
bench: $(VENV_STAMP) $(FLOWER_STAMP)
	$(PY) -m benchmarks.scale --n 10,100,1000,10000
	$(PY) -m benchmarks.scale --n 10,100,1000,10000 --backend inprocess
	$(PY) -m benchmarks.vs_flower --n 100,1000 --flower-python $(FLOWER_VENV)/bin/python

flower-venv: $(FLOWER_STAMP)

# Flower in its own venv (it pins another Ray); torch first, so pip takes the local CPU wheel.
$(FLOWER_STAMP): benchmarks/flower-constraints.txt
	test -x $(FLOWER_VENV)/bin/python || $(PYTHON) -m venv $(FLOWER_VENV)
	$(FLOWER_VENV)/bin/python -m pip install $(PIP_QUIET) -c benchmarks/flower-constraints.txt torch 2>&1 | grep -v 'is ignored: it is neither' || true
	FLWR_TELEMETRY_ENABLED=0 $(FLOWER_VENV)/bin/python -m pip install $(PIP_QUIET) -c benchmarks/flower-constraints.txt 'flwr[simulation]' 2>&1 | grep -v 'is ignored: it is neither' || true
	FLWR_TELEMETRY_ENABLED=0 $(FLOWER_VENV)/bin/python -c "import flwr, torch, ray"
	touch $@

clean:
	rm -rf build runs .pytest_cache .hypothesis .mypy_cache
	find . -name __pycache__ -type d -not -path './.venv/*' -not -path './node_modules/*' -prune -exec rm -rf {} +
