# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment it needs (.venv) from pyproject.toml first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

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

demo: $(STAMP)
	$(BIN)/chromasweep sweep sweeps/specs/demo.yaml --storage runs/sweeps

test: $(STAMP) $(BROWSER)
	$(BIN)/python -m pytest

# Benchmarks (CI runs only their --smoke pass, tests/test_benchmarks.py): about 50 min on 2 cores; `make bench BENCH="pipeline step"`
# runs some, `make bench BENCH_ARGS=--quick` a shorter pass. Writes benchmarks/RESULTS.md.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks $(BENCH) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs
