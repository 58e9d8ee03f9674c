"""Run the `test_*` rules of every `*_test.rego` module, like `opa test`."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from rollguard.engine import Engine
from rollguard.errors import EngineError, PolicyError
from rollguard.model import EXIT_ERROR, EXIT_FINDINGS, EXIT_PASS
from rollguard.policy.bundle import PolicyBundle

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)

Outcome = Literal["pass", "fail", "error"]
_OUTCOMES: tuple[Outcome, ...] = ("pass", "fail", "error")


@dataclass(frozen=True)
class RegoTestResult:
    """Outcome of one test rule."""

    file: str
    line: int
    package: str
    name: str
    outcome: Outcome
    message: str
    seconds: float
    # True when the test ran in one query with the others: `seconds` is then the batch's average.
    averaged: bool = False

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    def display(self, *, timing: bool = False) -> str:
        """`FAIL  package.rule  file:line: message`, with the time when `timing` (`~` for an average)."""
        took = f" ({'~' if self.averaged else ''}{self.seconds * 1000:.1f} ms)" if timing else ""
        extra = f": {self.message}" if self.message else ""
        return f"{self.outcome.upper():5} {self.package}.{self.name}  {self.file}:{self.line}{took}{extra}"


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


@dataclass(frozen=True)
class RegoTestRun:
    """Every result of one `rollguard policy test` run: the report and the exit code come from here."""

    results: tuple[RegoTestResult, ...]

    def count(self, outcome: Outcome) -> int:
        """How many tests had `outcome`."""
        return sum(1 for r in self.results if r.outcome == outcome)

    def exit_code(self) -> int:
        """0 when every test passes; 1 when one fails; 3 when one errors or there is no test at all."""
        if not self.results or self.count("error"):
            return EXIT_ERROR
        return EXIT_FINDINGS if self.count("fail") else EXIT_PASS

    def report(self, *, verbose: bool = False) -> list[str]:
        """The lines `opa test` would print: the failing and erroring tests (every test when
        `verbose`, with its time), a rule, then `PASS: n/N`, `FAIL: n/N` and `ERROR: n/N`."""
        shown = self.results if verbose else tuple(r for r in self.results if not r.passed)
        lines = [r.display(timing=verbose) for r in shown]
        if lines:
            lines.append("-" * 80)
        total = len(self.results)
        lines += [f"{o.upper()}: {self.count(o)}/{total}" for o in _OUTCOMES if self.count(o)]
        return lines


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
        outcome: Outcome
        if key not in values:
            outcome, message = "fail", "undefined"
        elif values[key] is True:
            outcome, message = "pass", ""
        else:
            outcome, message = "fail", f"returned {values[key]!r}"
        results.append(RegoTestResult(rel, line, package, rule, outcome, message, each, averaged=len(tests) > 1))
    return results


def _run_one(engine: Engine, test: tuple[str, int, str, str]) -> RegoTestResult:
    rel, line, package, rule = test
    start = time.perf_counter()
    try:
        value = engine.evaluate(f"{package}.{rule}", {})
        outcome: Outcome = "pass" if value is True else "fail"
        message = "" if value is True else ("undefined" if value is None else f"returned {value!r}")
    except (EngineError, PolicyError) as exc:
        outcome, message = "error", str(exc)
    return RegoTestResult(rel, line, package, rule, outcome, message, time.perf_counter() - start)
