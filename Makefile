# auditd: the two Quick-start commands are `make demo` and `make test`.
# Everything else here is what they are made of.

# The first Python 3.11+ on PATH, unless PYTHON is given.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k collectors -x'
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck format install serve clean help

help:
	@echo "make demo   set up, build the demo municipality, run the pipeline and serve the dashboard"
	@echo "make test   set up and run the tests (SQLite; PostgreSQL too when AUDITD_TEST_PG_URL is set)"
	@echo "make lint   ruff and mypy"
	@echo "make clean  remove the virtual environment and local data (var/)"

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "auditd needs Python 3.11 or newer on PATH (or PYTHON=/path/to/python3.11)"; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/auditd demo

serve: $(STAMP)
	$(BIN)/auditd serve

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy auditd collectors policies detectors reports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var build *.egg-info
