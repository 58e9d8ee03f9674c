"""docs/precision.md has a section for every policy of the bundle, and none for a policy it lacks."""

from __future__ import annotations

import re

from rollguard.policy.bundle import PolicyBundle

from .conftest import ROOT

PRECISION = ROOT / "docs" / "precision.md"

# A policy's section: its heading.
_HEADING = re.compile(r"^## ([a-z0-9_]+\.[a-z0-9_]+)\s*$", re.MULTILINE)


def _sections() -> list[str]:
    text = PRECISION.read_text(encoding="utf-8")
    return _HEADING.findall(text)


def test_every_policy_has_a_section(bundle: PolicyBundle) -> None:
    missing = sorted({p.id for p in bundle.policies} - set(_sections()))
    assert not missing, f"docs/precision.md has no `## <id>` section for: {', '.join(missing)}"


def test_every_section_names_a_policy_once(bundle: PolicyBundle) -> None:
    sections = _sections()
    unknown = sorted(set(sections) - {p.id for p in bundle.policies})
    twice = sorted({s for s in sections if sections.count(s) > 1})
    assert not unknown, f"docs/precision.md has sections for policies the bundle lacks: {', '.join(unknown)}"
    assert not twice, f"docs/precision.md has more than one section for: {', '.join(twice)}"


def test_every_description_gives_the_reason_for_its_severity(bundle: PolicyBundle) -> None:
    """A default severity is argued where it is set: each description names it and says why."""
    unargued = [
        p.id for p in bundle.policies if not re.search(rf"\b{p.severity.label}\b", p.description, re.IGNORECASE)
    ]
    assert unargued == [], f"these METADATA descriptions do not give the reason for their severity: {unargued}"
