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
.PHONY: help install install-dev run test lint format bench hit-model voice-models tflite-runtime \
	demo bank drumkits \
	soak board-arm64-test flash clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
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

run: $(VENV)/.runtime $(DEMO_WAV) ## Play the demo recording through the firmware (OSC to 127.0.0.1:9000; OSC=host:port)
	$(PY) -m firmware run --input $(DEMO_WAV) --period-frames 64 --model $(HIT_BUNDLE) --osc $(OSC) \
		--events $(BUILD)/demo/events.jsonl --print

test: $(VENV)/.dev $(BUILD)/tflite-runtime/.stamp ## Run the test suite (and lint)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

lint: $(VENV)/.dev ## Lint and check formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev ## Fix formatting and the fixable lint
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

hit-model: $(VENV)/.dev ## Rebuild the shipped hit model bundle (simulate, train 3 VAEs, export; 6-7.5 min, ~4 with build/sim-cache)
	$(PY) -m training hits default --out $(BUILD)/hits-default --bundle $(HIT_BUNDLE)

voice-models: $(VENV)/.dev ## Retrain the FM voice's envelope models (40 epochs, ~6 min per patch); ships those reaching 30 dB
	$(PY) -m training voice ship --out $(BUILD)/voice-runs --epochs 40 --max-minutes 15

$(BUILD)/tflite-runtime/.stamp:
	test -x $(BUILD)/tflite-runtime/bin/python || $(PYTHON) -m venv $(BUILD)/tflite-runtime
	$(BUILD)/tflite-runtime/bin/pip install -q 'tflite-runtime==2.14.*' 'numpy<2'
	touch $@

tflite-runtime: $(BUILD)/tflite-runtime/.stamp ## A venv with tflite-runtime 2.14 (the 32-bit boards' runtime) for the tests

bank: $(VENV)/.runtime ## Rebuild the shipped DX7 bank firmware/patches/hitar.syx
	$(PY) -m firmware.dx7.make_bank

drumkits: $(VENV)/.dev ## Build the drum datasets: hydrogen kits; soundfont, sample-library and synthesised training kits (build/data/)
	$(PY) -m training.data drumkits --out $(BUILD)/data/drumkits.npz
	$(PY) -m training.data soundfont-drums --out $(BUILD)/data/soundfont-drums.npz
	$(PY) -m training.data library-drums --out $(BUILD)/data/library-drums.npz
	$(PY) -m training.data synth-drums --out $(BUILD)/data/synth-drums.npz

bench: $(VENV)/.dev ## Measure everything (make bench ONLY="onsets io" for some); writes docs/BENCHMARKS.md
	$(PY) -m bench $(ONLY)

soak: $(VENV)/.dev ## Two hours of audio through the firmware with injected faults (~6 min)
	$(PY) -m bench soak

board-arm64-test: ## Prove the board install on arm64 (debootstrap + qemu, as root; ~11 min first run)
	board/arm64-test.sh

flash: $(VENV)/.runtime ## Flash a board: make flash HOST=pi@guitar.local BOARD=pi4-octo
	$(PY) -m deploy flash --host $(HOST) --board $(BOARD)

clean: ## Remove generated data (keeps the venv and the shipped bundles)
	rm -rf $(BUILD) runs
