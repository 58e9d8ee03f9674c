"""Shared fixtures: the policy bundle, a gate per engine, and the external corpus."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import settings

from rollguard.engine import create_engine
from rollguard.gate import Gate
from rollguard.generated import GeneratedTree
from rollguard.policy.bundle import PolicyBundle, load_bundle
from rollguard.policy.config import Config, Settings

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
FIXTURES = ROOT / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"
ENGINES = ("opa", "regorus")
# A fixed decision time keeps waiver expiry and freshness reproducible.
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)

# Hypothesis fails an example that runs over 200 ms by default, which a busy machine reaches
# with nothing wrong in the code; no property here is about speed.
settings.register_profile("rollguard", deadline=None)
settings.load_profile("rollguard")


@pytest.fixture(scope="session")
def bundle() -> PolicyBundle:
    return load_bundle(POLICIES)


def assert_current(tree: GeneratedTree, committed: Path, command: str) -> None:
    """The staleness check of every generated tree: `committed` holds exactly what `command` generates now."""
    differences = tree.differences(committed)
    shown = "\n  ".join(differences[:20]) + ("\n  ..." if len(differences) > 20 else "")
    where = committed.relative_to(ROOT).as_posix()
    assert not differences, f"{where}/ is stale; run `{command}` and commit the result:\n  {shown}"


def make_gate(bundle: PolicyBundle, engine: str, settings: Settings | None = None) -> Gate:
    """A gate on a fresh engine created in this process."""
    return Gate(bundle=bundle, engine=create_engine(engine), settings=settings or Config().resolve(None), now=NOW)


@pytest.fixture(scope="session", params=ENGINES)
def gate(request: pytest.FixtureRequest, bundle: PolicyBundle) -> Gate:
    return make_gate(bundle, request.param)


@pytest.fixture(scope="session")
def gates(bundle: PolicyBundle) -> dict[str, Gate]:
    return {name: make_gate(bundle, name) for name in ENGINES}


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("the shared corpus (../shared/corpus) is not present in this checkout")
    return CORPUS
