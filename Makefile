# The two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every install is pinned by constraints.txt (runtime and dev); `make lock` refreshes it.
CONSTRAINTS := constraints.txt

.PHONY: test demo lint install clean bench lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

# Re-resolve after a change to pyproject.toml (a new dependency, a raised bound) and write
# the versions the venv now holds. Pins still satisfied are kept; `make lock UPGRADE=1`
# moves every dependency to its newest allowed version.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet $(if $(UPGRADE),--upgrade,) -e '.[dev]'
	{ sed -n '/^#/p' $(CONSTRAINTS); \
	  $(BIN)/python -m pip freeze --exclude-editable --local; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check dialer workers exotel_sim tests bench chaos scripts
	$(BIN)/mypy dialer workers exotel_sim

# Three test processes (pytest-xdist), a file each at a time: most end-to-end tests wait on
# simulated calls and rate-limit windows, so three run side by side even on two cores.
test: lint
	$(BIN)/python -m pytest -q -n 3 --dist loadfile

demo: $(STAMP)
	$(BIN)/dialer demo

bench: $(STAMP)
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .dialer .pytest_cache .mypy_cache .ruff_cache

# Flower's tasks page after a few simulated calls, as docs/flower-tasks.png (needs Chromium).
.PHONY: screenshot
screenshot: $(STAMP)
	$(BIN)/python scripts/screenshot_flower.py

# Chaos runs (slow, not part of `make test`): kill -9 workers, restart Redis, Exotel faults,
# a 429 storm; prints one table and writes the figures into docs/RELIABILITY.md.
.PHONY: chaos
chaos: $(STAMP)
	$(BIN)/python -m chaos $(CHAOS_ARGS)
