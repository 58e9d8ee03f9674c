"""The gate adds governance.region_parity to a change read up front, never to one judged object at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollguard.engine import create_engine
from rollguard.gate import Gate
from rollguard.model import ChangeSet
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config, Parity, ParitySet

from ..conftest import NOW

RENDERED = Path(__file__).parent / "data" / "shop" / "rendered"
PARITY = Parity(
    allowed=("/spec/replicas", "/metadata/namespace", "/metadata/annotations", "/spec/template"),
    sets=(ParitySet("web", (RENDERED / "prod-eu.yaml", RENDERED / "prod-us.yaml"), line=3),),
)


def _gate(bundle: PolicyBundle, *, kinds: frozenset[str] | None) -> Gate:
    settings = Config(parity=PARITY, enforcement={"governance.region_parity": "warn"}).resolve(None)
    return Gate(bundle=bundle, engine=create_engine("regorus"), settings=settings, now=NOW, kinds=kinds)


@pytest.mark.parametrize(("kinds", "expected"), [(frozenset({"Deployment"}), 2), (None, 0)])
def test_parity_runs_where_the_change_was_read_up_front(
    bundle: PolicyBundle, kinds: frozenset[str] | None, expected: int
) -> None:
    decision = _gate(bundle, kinds=kinds).decide(ChangeSet(artifacts=()), [])
    found = [f for f in decision.findings if f.policy == "governance.region_parity"]
    assert len(found) == expected
    assert all(f.enforcement == "warn" for f in found)
    assert [f.resource.kind for f in found] == (["Service", "Secret"] if expected else [])  # by file and line
    assert decision.exit_code() == 0  # warned, not denied
