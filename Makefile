# hitar: firmware, training and deployment of the augmented acoustic guitar.
# `make help` lists the targets. Every target installs what it needs first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BUILD := build
DEMO_WAV := $(BUILD)/demo/demo.wav
HIT_BUNDLE := deploy/bundles/hits-default
OSC ?= 127.0.0.1:9000

.DEFAULT_GOAL := help
.PHONY: help install install-dev run test lint format bench hit-model demo clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.runtime: pyproject.toml board/system-deps.sh
	board/system-deps.sh runtime
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	board/system-deps.sh dev
	$(PY) -m pip install -q -e '.[training,dev]'
	touch $@

install: $(VENV)/.runtime ## Install the board runtime (system packages and a venv)

install-dev: $(VENV)/.dev ## Install everything for training, tests and benchmarks

$(DEMO_WAV): $(VENV)/.runtime
	$(PY) -m training simulate --demo --out $(dir $@)

demo: $(DEMO_WAV) ## Make the demo recording (simulated hits and strings, seeded)

run: $(VENV)/.runtime $(DEMO_WAV) ## Play the demo recording through the firmware, OSC to $(OSC)
	$(PY) -m firmware run --input $(DEMO_WAV) --model $(HIT_BUNDLE) --osc $(OSC) \
		--events $(BUILD)/demo/events.jsonl --print

test: $(VENV)/.dev ## Run the test suite (and lint)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

lint: $(VENV)/.dev ## Lint and check formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev ## Fix formatting and the fixable lint
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

hit-model: $(VENV)/.dev ## Rebuild the shipped hit model bundle from scratch (simulate, train, export)
	$(PY) -m training hits default --out $(BUILD)/hits-default --bundle $(HIT_BUNDLE)

bench: $(VENV)/.dev ## Measure detection, latency, CPU and accuracy; writes docs/BENCHMARKS.md
	$(PY) -m bench --out docs/BENCHMARKS.md

clean: ## Remove generated data (keeps the venv and the shipped bundles)
	rm -rf $(BUILD) runs
