# The two set-up commands of README.md. Each creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# Serves the portal on http://127.0.0.1:$(PORT) with the development IdP (never NemLog-in);
# `make demo PORT=5001` when 5000 is taken.
PORT ?= 5000
demo: $(STAMP)
	LEDGER_DATA_DIR=$${LEDGER_DATA_DIR:-./var} LEDGER_DEV_IDP=1 \
	LEDGER_SAML_BASE_URL=http://127.0.0.1:$(PORT) $(BIN)/ledger demo --bind 127.0.0.1:$(PORT)

# ruff; the import contracts (imports point one way, pyproject.toml); mypy on every package and
# --strict on ledger.evidence, the verifiers an auditor may take on their own; then pytest, in
# one process by default; `make test TEST_WORKERS=3` runs it in three, each test file in one of
# them (faster; some browser and backup tests are not yet steady under that load).
TEST_WORKERS ?= 0
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/mypy --strict -p ledger.evidence
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/append_verify.py --quick
	$(BIN)/python bench/proofs.py --quick
	$(BIN)/python bench/acs.py --quick
	$(BIN)/python bench/http.py --quick
	$(BIN)/python bench/flood.py --quick
	$(BIN)/python bench/scale.py --quick
	$(BIN)/python bench/witness.py --quick
	$(BIN)/python bench/erasure.py --quick

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
