"""Every policy fixture through the real gate on both engines: exactly the expected policy ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.policy.config import Config

from .conftest import FIXTURES, make_gate

_EXPECT = re.compile(r"^#\s*expect:(.*)$", re.MULTILINE)
_PARAMETERS = re.compile(r"^#\s*parameters:(.*)$", re.MULTILINE)


def _fixture_files() -> list[Path]:
    return sorted(p for p in (FIXTURES / "k8s").glob("*/*.yaml") if p.name.startswith(("allowed_", "disallowed_")))


def expected_ids(path: Path) -> set[str]:
    """`# expect: a b` in the file, else the folder's policy for disallowed_ and nothing for allowed_."""
    m = _EXPECT.search(path.read_text(encoding="utf-8"))
    if m:
        return set(m.group(1).split())
    return {f"k8s.{path.parent.name}"} if path.name.startswith("disallowed_") else set()


def test_every_policy_has_allowed_and_disallowed_fixtures(bundle) -> None:
    for info in bundle.policies:
        folder = FIXTURES / info.domain / info.name
        names = [p.name for p in folder.glob("*.yaml")] if folder.is_dir() else []
        assert any(n.startswith("allowed_") for n in names), f"{info.id} has no allowed_ fixture in {folder}"
        if info.id != "k8s.selector_immutable":  # UPDATE-only: its disallowed cases live in Rego tests
            assert any(n.startswith("disallowed_") for n in names), f"{info.id} has no disallowed_ fixture"


def fixture_parameters(path: Path) -> dict[str, object] | None:
    """`# parameters: {...}` (JSON) in the file: parameters for the folder's policy."""
    m = _PARAMETERS.search(path.read_text(encoding="utf-8"))
    return json.loads(m.group(1)) if m else None


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path: Path, gate: Gate, bundle) -> None:
    parameters = fixture_parameters(path)
    if parameters is not None:
        settings = Config(parameters={f"k8s.{path.parent.name}": parameters}).resolve(None)
        gate = make_gate(bundle, gate.engine.name, settings)
    change = load_change_set([str(path)])
    assert not change.problems, [p.display() for p in change.problems]
    decision = gate.judge(change)
    assert not decision.errors, [f.message for f in decision.errors]
    found = {f.policy for f in decision.findings}
    assert found == expected_ids(path), "\n".join(
        f"{f.policy}: {f.resource.display()}: {f.message}" for f in decision.findings
    )
    if path.name.startswith("disallowed_"):
        own = f"k8s.{path.parent.name}"
        assert all(f.message and f.file == path.as_posix() and f.line for f in decision.findings if f.policy == own)
