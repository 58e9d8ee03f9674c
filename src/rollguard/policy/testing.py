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


def run_tests(bundle: PolicyBundle, engine: Engine, *, match: str | None = None) -> list[RegoTestResult]:
    """Load every module (tests included) into `engine` and evaluate each test rule."""
    engine.load(bundle.modules)
    engine.set_data({})
    results: list[RegoTestResult] = []
    for rel, line, package, rule in discover_tests(bundle):
        if match and match not in f"{package}.{rule}":
            continue
        start = time.perf_counter()
        try:
            value = engine.evaluate(f"{package}.{rule}", {})
            outcome: Literal["pass", "fail", "error"] = "pass" if value is True else "fail"
            message = "" if value is True else ("undefined" if value is None else f"returned {value!r}")
        except (EngineError, PolicyError) as exc:
            outcome, message = "error", str(exc)
        results.append(RegoTestResult(rel, line, package, rule, outcome, message, time.perf_counter() - start))
    return results
