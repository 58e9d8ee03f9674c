# rollguard — `make demo` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OPA_BINDINGS := opa-golib-python-bindings==0.4.4
STAMP  := $(VENV)/.installed
# The OASIS SARIF 2.1.0 schema, for validating rollguard's SARIF output in the tests. No wheel
# ships it; the sarif-pydantic source distribution does, so it is taken from there.
SARIF_SCHEMA := $(VENV)/sarif-schema-2.1.0.json
SYSTEM_DEPS := $(VENV)/.system-deps

.PHONY: install demo test test-rego lint bench bench-events docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The OPA bindings declare Python >= 3.14 but run on 3.10+; install them outside the resolver.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --ignore-requires-python $(OPA_BINDINGS)
	touch $(STAMP)

$(SARIF_SCHEMA): | $(BIN)/python
	$(BIN)/python -m pip download --quiet --no-deps --no-binary :all: -d $(VENV)/sdist sarif-pydantic==0.6.2
	$(BIN)/python -c "import sys, tarfile; t = tarfile.open(sys.argv[1]); open(sys.argv[2], 'wb').write(t.extractfile('sarif_pydantic-0.6.2/sarif-schema-2.1.0.json').read())" $(VENV)/sdist/sarif_pydantic-0.6.2.tar.gz $@

# PostgreSQL and Chromium for the tests (scripts/install-system-deps says what it does).
$(SYSTEM_DEPS): scripts/install-system-deps | $(BIN)/python
	scripts/install-system-deps
	touch $@

install: $(STAMP)

demo: $(STAMP)
	@# The demo app has real mistakes: verdict "fail" (exit 1) is the expected outcome;
	@# unusable input (2) or a policy error (3) still fails the target.
	$(BIN)/rollguard check fixtures/demo/ --config fixtures/demo/rollguard.yaml --env prod || test $$? -eq 1

test: $(STAMP) $(SARIF_SCHEMA) $(SYSTEM_DEPS) lint
	$(BIN)/python -m pytest

test-rego: $(STAMP)
	$(BIN)/rollguard policy test --engine opa
	$(BIN)/rollguard policy test --engine regorus

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/rollguard policy doc --out docs/policies

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_check.py

bench-events: $(STAMP)
	$(BIN)/python benchmarks/policy_events.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache
