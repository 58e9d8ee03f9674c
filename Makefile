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
# The package version (pyproject.toml): the image's tag and version label.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
IMAGE   ?= rollguard:$(VERSION)
# The first container builder on PATH, in this order of preference.
CONTAINER_BUILDER = $(firstword $(foreach tool,docker podman buildah,$(shell command -v $(tool) >/dev/null 2>&1 && echo $(tool))))

.PHONY: install demo test test-rego lint bench bench-events bench-cluster bench-parallel bench-webhook docs image clean

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
	@# How the demo's rollout plays out in time: duration, peak pods, capacity (docs/simulation.md).
	$(BIN)/rollguard simulate fixtures/demo/ --config fixtures/demo/rollguard.yaml

test: $(STAMP) $(SARIF_SCHEMA) $(SYSTEM_DEPS) lint
	$(BIN)/python -m pytest

test-rego: $(STAMP)
	$(BIN)/rollguard policy test --engine opa
	$(BIN)/rollguard policy test --engine regorus

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# Everything generated from policies/: the policy pages, the Gatekeeper tree and the webhook's
# flat policy folder (tests fail when any of them is stale).
docs: $(STAMP)
	$(BIN)/rollguard policy doc --out docs/policies --compliance docs/compliance.md
	$(BIN)/rollguard gatekeeper build --out gatekeeper
	$(BIN)/rollguard webhook policies --out deploy/policies

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_check.py

bench-events: $(STAMP)
	$(BIN)/python benchmarks/policy_events.py

bench-cluster: $(STAMP)
	$(BIN)/python benchmarks/bench_cluster_memory.py

# Threads against processes on two cores (docs/performance.md, "Parallel judging").
bench-parallel: $(STAMP)
	$(BIN)/python benchmarks/bench_parallel.py

# rollguard's migration pack beside the squawk binary (PyPI squawk-cli, in its own venv) on
# squawk's own rule tests from the shared corpus: the agreement matrix.
compare-squawk: $(STAMP)
	$(BIN)/python benchmarks/compare_squawk.py

# Load test of `rollguard serve` over HTTPS with hey (Debian package hey, installed when missing).
bench-webhook: $(STAMP)
	@command -v hey >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null; } || { echo "install hey (Debian package hey) to run this benchmark" >&2; exit 2; }
	$(BIN)/python benchmarks/bench_webhook.py

# The container image of `rollguard serve` (Dockerfile; docs/webhook.md); IMAGE=... names another tag.
image:
	$(if $(CONTAINER_BUILDER),,@echo "make image needs docker, podman or buildah on PATH; install one of them" >&2; exit 2)
	$(CONTAINER_BUILDER) build --build-arg VERSION=$(VERSION) --build-arg OPA_BINDINGS=$(OPA_BINDINGS) --tag $(IMAGE) .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache
