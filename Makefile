# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs torch (CPU wheel by default) and the package with pinned dependencies.
# GPU users: make demo TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>" (or any torch spec).
PY ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test test-slow demo clean-venv export

$(STAMP): setup.py settings.ini constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	bash tools/install_optional.sh
	bash tools/browser_setup.sh
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/python tools/run_tests.py

test-slow: $(STAMP)
	$(BIN)/python tools/run_tests.py --flags slow

demo: $(STAMP)
	$(BIN)/scg-music demo --out demo_out

export: $(STAMP)
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

clean-venv:
	rm -rf $(VENV)
