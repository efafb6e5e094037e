# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs torch (CPU wheel by default) and the package with pinned dependencies.
# GPU users: make demo TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>" (or any torch spec).
PY ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test test-slow demo clean-venv export train-bundled train-generator train-classifiers snapshot-generator

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

# The exact commands that produce the bundled SCG models (see nbs/13_model_card.ipynb); resumable.
train-bundled: $(STAMP)
	$(BIN)/scg-music train vae --config bundled_vae --out runs/bundled_vae --resume
	$(BIN)/scg-music train vae --config bundled_vae_anneal --out runs/bundled_vae --resume
	$(BIN)/scg-music train vae --config bundled_vae_decoder --out runs/bundled_vae_decoder --resume
	$(BIN)/scg-music train vae --config bundled_vae_decoder_anneal --out runs/bundled_vae_decoder --resume
	$(BIN)/python tools/model_card.py calibrate_run
	$(BIN)/scg-music train latents --config bundled_latents
	$(BIN)/scg-music train dit --config bundled_dit --out runs/bundled_dit --resume
	for r in pitch nd chord; do $(BIN)/scg-music train classifier --config bundled_cls_$$r --out runs/bundled_cls_$$r --resume; done
	$(BIN)/python tools/model_card.py ship_bundled

# The long, resumable run of the next bundled generator (issue 12; see nbs/13_model_card.ipynb): the corpus cache, the
# block latent cache of a class-balanced 61k-window train subset (about 50 min on 2 CPU threads), then the DiT run with
# its OA probe, resuming from the weights committed in nbs/model_card/runs/full_dit (a fresh clone continues there).
train-generator: $(STAMP)
	test -f cache/corpus/manifest.json || $(BIN)/scg-music build-corpus --out cache/corpus
	$(BIN)/scg-music train latents --config full_latents
	nice -n 5 $(BIN)/python tools/train_bundled.py run --config full_dit --out runs/full_dit

# The guidance classifiers retrained on that block latent cache (issue 12); their scales are swept and they are shipped
# in nbs/13_model_card.ipynb (tools/model_card.py sweep_classifier_scales; `python tools/model_card.py ship_classifiers`).
train-classifiers: $(STAMP)
	test -f cache/corpus/manifest.json || $(BIN)/scg-music build-corpus --out cache/corpus
	$(BIN)/scg-music train latents --config full_latents
	for r in chord pitch nd; do $(BIN)/scg-music train classifier --config full_cls_$$r --out runs/full_cls_$$r --resume; done

# Before a session stops: the run's EMA weights and log into the repository (commit them).
snapshot-generator: $(STAMP)
	$(BIN)/python tools/train_bundled.py snapshot --run runs/full_dit --name full_dit
