"""Every policy stays within its budget of OPA evaluation events (benchmarks/event_budgets.json).

Events are counted by `rollguard.eval_events`, as `make bench-events` counts them: deterministic,
so a policy that gets dearer fails here rather than only in a timing nobody reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollguard.errors import ConfigError
from rollguard.eval_events import EventBudgets, EventCounts, measure_events
from rollguard.policy.bundle import PolicyBundle

from ..conftest import NOW, ROOT

BUDGETS = ROOT / "benchmarks" / "event_budgets.json"


def test_every_policy_stays_within_its_event_budget(bundle: PolicyBundle) -> None:
    pytest.importorskip("opa_bindings", reason="events are counted by OPA's tracer")
    budgets = EventBudgets.load(BUDGETS)
    counts = measure_events(bundle, ROOT / budgets.document, kind=budgets.kind, now=NOW)
    overruns = budgets.overruns(counts)
    assert not overruns, (
        f"evaluation events of {counts.subject} over budget (make bench-events shows every count; "
        "make the policy cheaper, or raise its budget in benchmarks/event_budgets.json with the reason):\n  "
        + "\n  ".join(overruns)
    )


def _budgets(**policies: int) -> EventBudgets:
    return EventBudgets(document="change.yaml", kind="Deployment", total=300, policies=policies)


def _counts(total: int, **by_policy: int) -> EventCounts:
    return EventCounts(subject="Deployment shop/web", total=total, base=40, by_policy=by_policy)


def test_overruns_name_the_policy_its_count_and_its_budget() -> None:
    budgets = _budgets(cheap=100, dear=100)
    assert budgets.overruns(_counts(300, cheap=100, dear=99)) == []
    assert budgets.overruns(_counts(301, cheap=101, dear=99)) == [
        "every policy together: 301 events, budget 300",
        "cheap: 101 events, budget 100",
    ]


def test_a_policy_without_a_budget_and_a_budget_without_a_policy_are_reported() -> None:
    assert _budgets(gone=50).overruns(_counts(120, new=80)) == [
        "new: 80 events and no budget; add one",
        "gone: has a budget but does not judge a Deployment; remove it",
    ]


def test_a_malformed_budget_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"document": "a.yaml", "kind": "Deployment", "total": 10}), encoding="utf-8")
    with pytest.raises(ConfigError, match="expected document, kind, total and policies"):
        EventBudgets.load(path)
    path.write_text(
        json.dumps({"document": "a.yaml", "kind": "Deployment", "total": 10, "policies": {"p": "many"}}),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="positive whole number"):
        EventBudgets.load(path)


def test_the_budget_file_names_a_document_of_the_repository() -> None:
    budgets = EventBudgets.load(BUDGETS)
    assert (ROOT / budgets.document).is_file(), f"{budgets.document} (benchmarks/event_budgets.json) does not exist"
