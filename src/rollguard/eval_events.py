"""Evaluation events: how many steps OPA's tracer records judging one document, per policy.

Time on a shared machine is noisy; the number of evaluation events is the same on every run, so
it shows which policies are expensive and whether a change made one cheaper. `make bench-events`
prints the counts and tests/policy/test_event_budget.py holds them to benchmarks/event_budgets.json.
Tracing is OPA-only: creating the gates raises ConfigError when the OPA bindings are missing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollguard.contract import build_inventory, review_for
from rollguard.engine import create_engine
from rollguard.errors import ConfigError, InputError
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.model import Artifact
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config

# The query the gate evaluates for one document under review (the entry module's `judged`).
_QUERY = "x = data.rollguard.entry.judged"


@dataclass(frozen=True)
class EventCounts:
    """Events of judging one document: with every policy, with none that applies, and per policy."""

    # `Deployment shop/checkout`: the document measured.
    subject: str
    # Every policy of the bundle (those that apply to the kind, and the entry module).
    total: int
    # Only policies that do not apply to the kind: the entry module's own cost.
    base: int
    # Policy id → events of that policy alone, above `base`; the costliest first.
    by_policy: Mapping[str, int]


def count_events(gate: Gate, artifact: Artifact, review: Mapping[str, Any]) -> int:
    """Trace events of judging the document `review` of `artifact` with the gate's policies (an OPA
    gate), with its simulated rollout when a policy reads one, as the webhook judges it."""
    bridge = gate.engine._bridge  # type: ignore[attr-defined]  # tracing is OPA-only
    bridge.eval_query(_QUERY, gate.admission_input(artifact, review), trace=True)
    return len(bridge.last_trace or [])


def measure_events(bundle: PolicyBundle, file: Path, *, kind: str, now: dt.datetime) -> EventCounts:
    """Events of judging the first `kind` document of `file`, the rest of the file as the inventory.

    Each count uses a fresh OPA gate holding only the policies measured, so a policy alone pays
    for the library rules it reads, and the total pays for each of them once.
    """
    change = load_change_set([str(file)])
    target = next((a for a in change.artifacts if a.resource.kind == kind), None)
    if target is None:
        raise InputError(f"{file} has no {kind} to measure; pass a file with one", file=str(file))
    inventory = build_inventory(a.document for a in change.artifacts)
    review = review_for(target)

    def events(include: tuple[str, ...]) -> int:
        gate = Gate(
            bundle=bundle,
            engine=create_engine("opa"),
            settings=Config(include=include).resolve(None),
            now=now,
            inventory=inventory,
        )
        return count_events(gate, target, review)

    # A selection of no policy at all is refused by the settings check, so the entry module's
    # own cost is measured with the policies that do not apply to the kind.
    base = events(tuple(p.id for p in bundle.policies if kind not in p.applies_to))
    alone = {p.id: events((p.id,)) - base for p in bundle.policies if kind in p.applies_to}
    by_policy = dict(sorted(alone.items(), key=lambda item: (-item[1], item[0])))
    return EventCounts(subject=target.resource.display(), total=events(("*",)), base=base, by_policy=by_policy)


@dataclass(frozen=True)
class EventBudgets:
    """The most events each policy, and every policy together, may take on one document.

    Kept in benchmarks/event_budgets.json; a budget is set a little above the count reached, so
    it can only go down: a change that makes a policy dearer fails the budget test.
    """

    # The change measured (relative to the repository) and the kind of its document judged.
    document: str
    kind: str
    # Events with every policy.
    total: int
    # Policy id → events of that policy alone, above the entry module's own cost.
    policies: Mapping[str, int]

    @classmethod
    def load(cls, path: Path) -> EventBudgets:
        """Read a budget file; ConfigError when it is not the shape described in the class."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            budgets = cls(
                document=raw["document"], kind=raw["kind"], total=raw["total"], policies=dict(raw["policies"])
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"read event budgets {path}: {exc}; expected document, kind, total and policies") from exc
        numbers = [budgets.total, *budgets.policies.values()]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in numbers):
            raise ConfigError(f"event budgets {path}: every budget must be a positive whole number of events")
        return budgets

    def overruns(self, counts: EventCounts) -> list[str]:
        """What breaks the budgets, one line each: a count above its budget, or a policy without one."""
        found = []
        if counts.total > self.total:
            found.append(f"every policy together: {counts.total} events, budget {self.total}")
        for pid, n in counts.by_policy.items():
            budget = self.policies.get(pid)
            if budget is None:
                found.append(f"{pid}: {n} events and no budget; add one")
            elif n > budget:
                found.append(f"{pid}: {n} events, budget {budget}")
        found.extend(
            f"{pid}: has a budget but does not judge a {self.kind}; remove it"
            for pid in sorted(set(self.policies) - set(counts.by_policy))
        )
        return found
