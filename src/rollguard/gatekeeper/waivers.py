"""rollguard.yaml waivers in the Gatekeeper tree: whole namespaces become `match.excludedNamespaces`.

Gatekeeper has no waivers; a constraint can only leave namespaces out. A waiver of whole
namespaces is therefore exact as an exclusion on the constraint of each policy it names. A
waiver for named objects is not: `match.name` selects the only objects a constraint judges,
the opposite of an exemption, and the generated templates have no parameter for exempt
objects. Such waivers, and the other ones Gatekeeper cannot express, are listed with the reason.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rollguard.kube.kinds import KINDS
from rollguard.policy.bundle import PolicyInfo
from rollguard.policy.config import Settings, Waiver

WAIVERS_ANNOTATION = "rollguard.io/waivers"

# The namespace patterns written into excludedNamespaces: what every Gatekeeper release with
# suffix globs accepts (its stricter validation), a name with `*` or `*-` before it, `*` or `-*` after.
_EXCLUDABLE = re.compile(r"^(\*|\*-)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\*|-\*)?$")
# rollguard matches an object without a namespace (cluster-scoped) as if it were in this one.
_NO_NAMESPACE = "default"


@dataclass(frozen=True)
class Exclusion:
    """A waiver carried into one policy's constraint as the namespaces it excludes."""

    waiver: Waiver
    namespaces: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        """The entry of the constraint's `rollguard.io/waivers` annotation."""
        return {"id": self.waiver.id, "expires": self.waiver.expires.isoformat(), "namespaces": list(self.namespaces)}


@dataclass(frozen=True)
class LeftOut:
    """A waiver (for some of the policies it names) that the Gatekeeper tree does not carry, and why."""

    waiver: Waiver
    policies: tuple[str, ...]
    reason: str

    def display(self) -> str:
        shown = ", ".join(self.policies[:5]) + (f" and {len(self.policies) - 5} more" if len(self.policies) > 5 else "")
        return f"waiver {self.waiver.id} ({shown}) is not in the Gatekeeper tree: {self.reason}"


@dataclass(frozen=True)
class ConstraintWaivers:
    """What the waivers of rollguard.yaml become in the Gatekeeper tree."""

    exclusions: Mapping[str, tuple[Exclusion, ...]]  # policy id → the waivers on its constraint
    left_out: tuple[LeftOut, ...]

    def excluded_namespaces(self, policy_id: str) -> list[str]:
        """`spec.match.excludedNamespaces` of the policy's constraint (empty: none)."""
        return sorted({ns for e in self.exclusions.get(policy_id, ()) for ns in e.namespaces})

    def annotation(self, policy_id: str) -> str | None:
        """The `rollguard.io/waivers` annotation: each exclusion's waiver id, expiry and namespaces."""
        found = self.exclusions.get(policy_id, ())
        return json.dumps([e.to_json() for e in found], separators=(",", ":")) if found else None


def constraint_waivers(policies: Sequence[PolicyInfo], settings: Settings, *, now: dt.datetime) -> ConstraintWaivers:
    """The waivers of `settings` that hold on `now` in its environment, as exclusions on the
    constraints of `policies` (the ones the tree holds), and the ones left out with the reason.

    Waivers for other environments are left out silently, as `rollguard check` leaves them.
    """
    exclusions: dict[str, list[Exclusion]] = {}
    left: dict[tuple[str, str], list[str]] = {}
    by_id: dict[str, Waiver] = {}
    for waiver in settings.waivers:
        if waiver.environments and settings.environment not in waiver.environments:
            continue
        named = [p for p in policies if fnmatch.fnmatchcase(p.id, waiver.policy)]
        by_id[waiver.id] = waiver
        for info in named:
            if not _about(waiver, info):
                continue  # it never waives a finding of this policy
            if waiver.expired(on=now):
                reason = f"it expired on {waiver.expires.isoformat()}, so it no longer applies"
                left.setdefault((waiver.id, reason), []).append(info.id)
                continue
            exclusion, reasons = _express(waiver, info)
            if exclusion is not None:
                exclusions.setdefault(info.id, []).append(exclusion)
            for reason in reasons:
                left.setdefault((waiver.id, reason), []).append(info.id)
    return ConstraintWaivers(
        exclusions={pid: tuple(found) for pid, found in exclusions.items()},
        left_out=tuple(LeftOut(by_id[wid], tuple(ids), reason) for (wid, reason), ids in left.items()),
    )


def _kinds_waived(waiver: Waiver, info: PolicyInfo) -> list[str]:
    """The kinds the policy judges that the waiver covers. A policy judging any kind ("*", a
    user's policy without METADATA) is covered by kind "*" alone."""
    return [k for k in info.applies_to if fnmatch.fnmatchcase(k, waiver.kind) and (k != "*" or waiver.kind == "*")]


def _about(waiver: Waiver, info: PolicyInfo) -> bool:
    """Whether the waiver can waive a finding of the policy (one of its kinds, or any kind)."""
    return bool(_kinds_waived(waiver, info)) or "*" in info.applies_to


def _express(waiver: Waiver, info: PolicyInfo) -> tuple[Exclusion | None, list[str]]:
    """The exclusion that expresses `waiver` on the constraint of `info`, and what it cannot express."""
    kinds = _kinds_waived(waiver, info)
    if waiver.name.strip("*"):
        return None, [
            f"it waives objects named {waiver.name!r}; Gatekeeper's match.name selects the only objects "
            "a constraint judges and cannot exempt one, and the templates have no parameter for exempt objects"
        ]
    if len(kinds) < len(info.applies_to):
        others = [k for k in info.applies_to if k not in kinds]
        return None, [
            f"it waives {', '.join(kinds) or waiver.kind} only, and excluding its namespaces would exempt "
            f"{', '.join(others)} too (the constraint matches every kind the policy judges)"
        ]
    if not waiver.namespace.strip("*"):
        return None, [
            "it waives the policy in every namespace; leave the policy out of the build (policies.exclude) "
            "or make its enforcement dryrun"
        ]
    if not _EXCLUDABLE.match(waiver.namespace):
        return None, [
            f"its namespace pattern {waiver.namespace!r} is not one excludedNamespaces can hold "
            "(a namespace name with * only at its start or end)"
        ]
    reasons = []
    cluster = [k for k in kinds if k in KINDS and not KINDS[k].namespaced]
    if cluster and fnmatch.fnmatchcase(_NO_NAMESPACE, waiver.namespace):
        reasons.append(
            f"cluster-scoped {', '.join(cluster)} objects, which rollguard counts in namespace "
            f"{_NO_NAMESPACE}, are still judged by Gatekeeper (excludedNamespaces never exempts them)"
        )
    return Exclusion(waiver, (waiver.namespace,)), reasons
