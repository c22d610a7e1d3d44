# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment it needs (.venv) from pyproject.toml first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo lint test test-fast bench cluster-lock clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The MLflow UI test drives Debian's Chromium through its chromedriver (root, or sudo, installs them).
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
$(BROWSER):
	$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq chromium chromium-driver >/dev/null

# Only the environment: .venv with the project and its dev tools (what demo and test build first).
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/chromasweep sweep sweeps/specs/demo.yaml --storage runs/sweeps

# ruff's settings are in pyproject.toml; `$(BIN)/ruff format .` and `$(BIN)/ruff check --fix .` mend most findings.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint $(BROWSER)
	$(BIN)/python -m pytest

# The inner loop: unit and contract tests, no Ray, no server, no training run (tests marked e2e are left out).
test-fast: lint
	$(BIN)/python -m pytest -m "not e2e"

# Benchmarks (CI runs only their --smoke pass, tests/test_benchmarks.py): about 4 hours on 2 cores (README, Benchmarks); `make bench BENCH="pipeline step"`
# runs some, `make bench BENCH_ARGS=--quick` a shorter pass. Writes benchmarks/RESULTS.md.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks $(BENCH) $(BENCH_ARGS)

# The exact versions every node of cluster/gcp-gpu.yaml installs (Linux x86-64, its Python): run after a
# change to pyproject.toml's dependencies; tests/test_gcp_cluster.py fails while the lock disagrees.
UV_VERSION := 0.13.8
NODE_PYTHON := 3.11.18
cluster-lock: $(STAMP)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra gpu --extra gcp --python-version $(NODE_PYTHON) \
	  --python-platform x86_64-unknown-linux-gnu --quiet --no-header -o cluster/node-requirements.txt

clean:
	rm -rf $(VENV) runs
