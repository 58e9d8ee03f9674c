"""Every policy fixture through the real gate on both engines: exactly the expected policy ids."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from rollguard.audit.record import History
from rollguard.engine import create_engine
from rollguard.gate import Gate
from rollguard.inputs import INPUT_KINDS, load_change_set
from rollguard.policy.config import Config, VulnerabilityException, load_config

from .conftest import FIXTURES, NOW, make_gate

# `# expect:` in YAML, `-- expect:` in SQL; likewise for parameters.
_EXPECT = re.compile(r"^(?:#|--)\s*expect:(.*)$", re.MULTILINE)
_PARAMETERS = re.compile(r"^(?:#|--)\s*parameters:(.*)$", re.MULTILINE)
# Policy domain → the suffix of its fixtures (no dot), from the input kinds.
_SUFFIXES = {kind.domain: kind.fixture_suffix.removeprefix(".") for kind in INPUT_KINDS.values()}
# An image fixture is a Trivy report (`<case>.json`) with an optional `<case>.yaml` beside it: the manifests
# deployed with it, and the `# expect:`, `# parameters:` and `# exceptions:` (JSON) lines JSON cannot hold.
# A terraform fixture is a plan (`<case>.json`, told from a report by its content) with the same optional
# `<case>.yaml`, holding only those comment lines.
_EXCEPTIONS = re.compile(r"^#\s*exceptions:(.*)$", re.MULTILINE)
# A folder fixture with a rollguard.yaml is judged with that config; its `expect` file may name the
# `# environment:`, the decision time (`# now:`), an `# approval:` reference and the decision store's
# `# history:` (JSON: passed_digests, deployed, rollouts) that governance policies read.
_GOVERNANCE = re.compile(r"^#\s*(environment|now|approval|history):(.*)$", re.MULTILINE)


def _fixture_files() -> list[Path]:
    return sorted(
        p
        for domain, suffix in _SUFFIXES.items()
        for p in (FIXTURES / domain).glob(f"*/*.{suffix}")
        if p.name.startswith(("allowed_", "disallowed_"))
    )


def _fixture_folders() -> list[Path]:
    """Fixtures that are a whole change: folders `allowed_<case>/` and `disallowed_<case>/`, loaded as one change set."""
    return sorted(p for p in FIXTURES.glob("*/*/*") if p.is_dir() and p.name.startswith(("allowed_", "disallowed_")))


def _folder_headers(folder: Path) -> str:
    """A folder fixture's `expect:`/`parameters:` lines: its `expect` file and the first line of every file."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    texts = [p.read_text(encoding="utf-8") for p in files]
    return "\n".join(t if p.name == "expect" else t.split("\n", 1)[0] for p, t in zip(files, texts, strict=True))


def policy_of(path: Path) -> str:
    """The policy a fixture is for: `<domain>.<folder>`."""
    return f"{path.parent.parent.name}.{path.parent.name}"


def expected_ids(path: Path) -> set[str]:
    """`# expect: a b` in the file, else the folder's policy for disallowed_ and nothing for allowed_."""
    m = _EXPECT.search(_annotated_text(path))
    if m:
        return set(m.group(1).split())
    return {policy_of(path)} if path.name.startswith("disallowed_") else set()


def test_every_policy_has_allowed_and_disallowed_fixtures(bundle) -> None:
    for info in bundle.policies:
        folder = FIXTURES / info.domain / info.name
        suffix = _SUFFIXES.get(info.domain)
        files = [p.name for p in folder.glob(f"*.{suffix}")] if folder.is_dir() and suffix else []
        names = files + ([p.name for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else [])
        assert any(n.startswith("allowed_") for n in names), f"{info.id} has no allowed_ fixture in {folder}"
        # selector_immutable is UPDATE-only and the observed_* facts come only from a real database
        # run (`rollguard migrate verify`): their disallowed cases live in the Rego tests.
        if info.id not in ("k8s.selector_immutable", "migration.observed_lock", "migration.observed_rewrite"):
            assert any(n.startswith("disallowed_") for n in names), f"{info.id} has no disallowed_ fixture"


def fixture_parameters(path: Path) -> dict[str, object] | None:
    """`# parameters: {...}` (JSON) in the file: parameters for the folder's policy."""
    m = _PARAMETERS.search(_annotated_text(path))
    return json.loads(m.group(1)) if m else None


def companions(path: Path) -> list[Path]:
    """The `<case>.yaml` judged with a JSON fixture (an image report's manifests, or only header lines), if any."""
    manifest = path.with_suffix(".yaml")
    return [manifest] if path.suffix == ".json" and manifest.is_file() else []


def _holds_documents(path: Path) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in path.read_text().splitlines())


def _annotated_text(path: Path) -> str:
    if path.is_dir():
        return _folder_headers(path)
    return "\n".join(p.read_text(encoding="utf-8") for p in (path, *companions(path)))


def fixture_exceptions(path: Path) -> tuple[VulnerabilityException, ...]:
    """`# exceptions: [...]` (JSON): the case's `vulnerability_exceptions`."""
    m = _EXCEPTIONS.search(_annotated_text(path))
    entries = json.loads(m.group(1)) if m else []
    return tuple(VulnerabilityException(**{**e, "expires": dt.date.fromisoformat(e["expires"])}) for e in entries)


def governed_gate(path: Path, engine: str, bundle, parameters: dict[str, object] | None) -> Gate:
    """A gate with the folder's rollguard.yaml, resolved for its `# environment:` at its `# now:`."""
    headers = {m.group(1): m.group(2).strip() for m in _GOVERNANCE.finditer(_annotated_text(path))}
    config = load_config(path / "rollguard.yaml")
    if parameters is not None:
        config = replace(config, parameters={**config.parameters, policy_of(path): parameters})
    settings = config.resolve(headers.get("environment"))
    history = json.loads(headers["history"]) if "history" in headers else None
    settings = replace(
        settings,
        approval=headers.get("approval"),
        history=History(
            passed_digests=tuple(history.get("passed_digests", [])),
            deployed=tuple(history.get("deployed", [])),
            rollouts=tuple(history.get("rollouts", [])),
        )
        if history is not None
        else None,
    )
    now = dt.datetime.fromisoformat(headers["now"]) if "now" in headers else NOW
    return Gate(bundle=bundle, engine=create_engine(engine), settings=settings, now=now)


@pytest.mark.parametrize("path", _fixture_files() + _fixture_folders(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path: Path, gate: Gate, bundle) -> None:
    parameters = fixture_parameters(path)
    exceptions = fixture_exceptions(path)
    if path.is_dir() and (path / "rollguard.yaml").is_file():
        gate = governed_gate(path, gate.engine.name, bundle, parameters)
    elif parameters is not None or exceptions:
        config = Config(parameters={policy_of(path): parameters or {}}, vulnerability_exceptions=exceptions)
        gate = make_gate(bundle, gate.engine.name, config.resolve(None))
    # A companion of header lines only is not an input (it would be "nothing to judge").
    inputs = [path, *(p for p in companions(path) if _holds_documents(p))]
    change = load_change_set([str(p) for p in inputs])
    assert not change.problems, [p.display() for p in change.problems]
    decision = gate.judge(change)
    assert not decision.errors, [f.message for f in decision.errors]
    found = {f.policy for f in decision.findings}
    assert found == expected_ids(path), "\n".join(
        f"{f.policy}: {f.resource.display()}: {f.message}" for f in decision.findings
    )
    if path.name.startswith("disallowed_"):
        own = policy_of(path)
        files = {p.as_posix() for p in (path, *companions(path))}
        files |= {p.as_posix() for p in path.rglob("*")} if path.is_dir() else set()  # a folder fixture's own files
        assert all(f.message and f.file in files and f.line for f in decision.findings if f.policy == own)
