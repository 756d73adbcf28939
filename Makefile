# Two commands on a fresh machine with Python 3.11:
#   make report   the contract suite against the emulator; writes reports/
#   make test     the project's own tests (spec, oracles, emulator, mutation self-test)
# Both create .venv and install what they need on first use.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: report test bench lint clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

report: $(STAMP)
	$(BIN)/python -m pytest contract_tests $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest tests $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py $(ARGS)

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	$(BIN)/ruff check cmdb_contract cmdb_emulator contract_tests tests benchmarks conftest.py
	$(BIN)/mypy

# Never deletes a ledger: it lists sets an interrupted run may have left on a target.
clean:
	@if ls reports/ledger-*.jsonl >/dev/null 2>&1; then \
	  echo "make clean: refusing: these ledgers list sets that interrupted runs may have left on a target:" >&2; \
	  ls reports/ledger-*.jsonl >&2; \
	  echo "sweep them first: .venv/bin/python -m pytest contract_tests --cleanup-only --target-url URL (with BK_APP_CODE, BK_APP_SECRET, BK_USERNAME set)" >&2; \
	  exit 1; \
	fi
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.md reports/*.png reports/replay-* .hypothesis
