"""Every Rego unit test (`test_*` in `*_test.rego`) on both in-process engines."""

from __future__ import annotations

import pytest

from rollguard.engine import create_engine
from rollguard.policy.bundle import check_library_references, load_bundle
from rollguard.policy.testing import RegoTestResult, discover_tests, run_tests

from ..conftest import ENGINES, POLICIES

_BUNDLE = load_bundle(POLICIES)
_TESTS = [f"{package}.{rule}" for _, _, package, rule in discover_tests(_BUNDLE)]
_RESULTS: dict[str, dict[str, RegoTestResult]] = {}


def _results(engine: str) -> dict[str, RegoTestResult]:
    if engine not in _RESULTS:
        _RESULTS[engine] = {f"{r.package}.{r.name}": r for r in run_tests(_BUNDLE, create_engine(engine))}
    return _RESULTS[engine]


def test_every_policy_has_rego_tests() -> None:
    for info in _BUNDLE.policies:
        assert any(t.startswith(f"{info.package}_test.") for t in _TESTS), f"{info.id} has no Rego tests"


def test_the_pack_uses_only_library_rules_that_exist() -> None:
    # Loading the pack skips this check to start faster; a misspelt library rule in the pack
    # (a policy that would never fire) is caught here instead.
    runtime = {rel: src for rel, src in _BUNDLE.modules.items() if rel not in _BUNDLE.test_modules}
    check_library_references(runtime)


def test_a_misspelt_library_rule_in_the_pack_would_be_caught() -> None:
    from rollguard.errors import PolicyError

    rel = next(r for r, src in _BUNDLE.modules.items() if "k8s.obj_containers" in src and r not in _BUNDLE.test_modules)
    broken = {**_BUNDLE.modules, rel: _BUNDLE.modules[rel].replace("k8s.obj_containers", "k8s.obj_containerz", 1)}
    runtime = {r: src for r, src in broken.items() if r not in _BUNDLE.test_modules}
    with pytest.raises(PolicyError, match="obj_containerz is not defined"):
        check_library_references(runtime)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", _TESTS)
def test_rego(engine: str, name: str) -> None:
    result = _results(engine)[name]
    assert result.passed, f"{result.file}:{result.line}: {result.outcome}: {result.message}"


def test_metadata_defaults_satisfy_their_own_parameter_schema() -> None:
    # The gate validates only parameters that config overrides; defaults are checked here.
    import jsonschema

    for info in _BUNDLE.policies:
        jsonschema.Draft202012Validator.check_schema(info.parameters_schema)
        errors = list(jsonschema.Draft202012Validator(info.parameters_schema).iter_errors(info.default_parameters()))
        assert not errors, f"{info.id}: {errors[0].message}"
        props = info.parameters_schema.get("properties", {})
        assert all("default" in p and "description" in p for p in props.values()), (
            f"{info.id}: a parameter lacks default/description"
        )
