"""Run the `test_*` rules of every `*_test.rego` module, like `opa test`."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from rollguard.engine import Engine
from rollguard.errors import EngineError, PolicyError
from rollguard.policy.bundle import PolicyBundle

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)


@dataclass(frozen=True)
class RegoTestResult:
    """Outcome of one test rule."""

    file: str
    line: int
    package: str
    name: str
    outcome: Literal["pass", "fail", "error"]
    message: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


def discover_tests(bundle: PolicyBundle) -> Iterator[tuple[str, int, str, str]]:
    """(file, line, package, rule) for every distinct test rule, in file order."""
    for rel in bundle.test_modules:
        source = bundle.modules[rel]
        pkg = _PACKAGE.search(source)
        if not pkg:
            raise PolicyError("no package declaration", file=rel, line=1)
        seen: set[str] = set()
        for m in _TEST_RULE.finditer(source):
            if m.group(1) in seen:
                continue
            seen.add(m.group(1))
            yield rel, source.count("\n", 0, m.start()) + 1, pkg.group(1), m.group(1)


_RUNNER_PACKAGE = "rollguard_test_runner"


def _runner_module(tests: list[tuple[str, int, str, str]]) -> str:
    """A module whose `results` maps `package.rule` to each test's value (absent when undefined)."""
    lines = [f"package {_RUNNER_PACKAGE}", ""]
    for _, _, package, rule in tests:
        lines.append(f'results["{package}.{rule}"] := v if {{ v := data.{package}.{rule} }}')
    return "\n".join(lines) + "\n"


def run_tests(bundle: PolicyBundle, engine: Engine, *, match: str | None = None) -> list[RegoTestResult]:
    """Load every module (tests included) into `engine` and evaluate each test rule.

    All tests run in one query: the OPA bridge compiles the whole bundle for every distinct
    query, which would dominate a run of hundreds of tests. When that query fails (a test hits
    a builtin error), each test runs alone so the failure is named.
    """
    tests = [t for t in discover_tests(bundle) if not match or match in f"{t[2]}.{t[3]}"]
    engine.load({**bundle.modules, f"{_RUNNER_PACKAGE}.rego": _runner_module(tests)})
    engine.set_data({})
    start = time.perf_counter()
    try:
        values = engine.evaluate(f"{_RUNNER_PACKAGE}.results", {}) or {}
    except EngineError:
        return [_run_one(engine, t) for t in tests]
    each = (time.perf_counter() - start) / max(len(tests), 1)
    results = []
    for rel, line, package, rule in tests:
        key = f"{package}.{rule}"
        if key not in values:
            results.append(RegoTestResult(rel, line, package, rule, "fail", "undefined", each))
        elif values[key] is True:
            results.append(RegoTestResult(rel, line, package, rule, "pass", "", each))
        else:
            results.append(RegoTestResult(rel, line, package, rule, "fail", f"returned {values[key]!r}", each))
    return results


def _run_one(engine: Engine, test: tuple[str, int, str, str]) -> RegoTestResult:
    rel, line, package, rule = test
    start = time.perf_counter()
    try:
        value = engine.evaluate(f"{package}.{rule}", {})
        outcome: Literal["pass", "fail", "error"] = "pass" if value is True else "fail"
        message = "" if value is True else ("undefined" if value is None else f"returned {value!r}")
    except (EngineError, PolicyError) as exc:
        outcome, message = "error", str(exc)
    return RegoTestResult(rel, line, package, rule, outcome, message, time.perf_counter() - start)
