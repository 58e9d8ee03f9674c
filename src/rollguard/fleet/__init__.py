"""Views across a fleet: the same service rendered for several regions or environments (docs/fleet.md)."""

from __future__ import annotations

from rollguard.fleet.parity import (
    PARITY_POLICY,
    Comparison,
    Difference,
    ObjectDiff,
    ParityLimits,
    Side,
    compare_sides,
    parity_findings,
    pointer_matches,
    read_side,
)

__all__ = [
    "PARITY_POLICY",
    "Comparison",
    "Difference",
    "ObjectDiff",
    "ParityLimits",
    "Side",
    "compare_sides",
    "parity_findings",
    "pointer_matches",
    "read_side",
]
