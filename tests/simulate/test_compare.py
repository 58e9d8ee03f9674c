"""`--compare`: the same workload as rolling, blue-green and canary, and the advice with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from rollguard.cli import main
from rollguard.simulate import SimulationOptions, SimulationReport
from rollguard.simulate.compare import compare_change
from rollguard.simulate.result import Comparison

from .manifests import change, deployment, simulate, workload
from .test_cli import write


def compare(*docs: dict[str, Any], surge_budget: int = 50) -> tuple[tuple[Comparison, ...], SimulationReport]:
    """The comparisons of these objects, and their plain simulation."""
    comparisons = compare_change(change(*docs), options=SimulationOptions(), surge_budget=surge_budget)
    return comparisons, simulate(*docs)


def test_every_candidate_is_simulated_with_its_exposure() -> None:
    (c,), _ = compare(deployment(10, startup=10))
    by_name = {k.name: k for k in c.candidates}
    assert list(by_name) == ["as configured", "rolling 1/0", "blue-green", "canary 10/25/50/100"]
    assert {n: k.exposed_percent for n, k in by_name.items()} == {
        "as configured": 100.0,
        "rolling 1/0": 100.0,
        "blue-green": 0.0,
        "canary 10/25/50/100": 10.0,
    }
    assert by_name["as configured"].simulation.duration_seconds == 20.0
    assert by_name["rolling 1/0"].simulation.peak_pods == 11
    assert by_name["blue-green"].simulation.peak_pods == 20
    assert by_name["blue-green"].simulation.strategy == "blueGreen"
    # Three 5-minute checks between the four weights.
    assert (by_name["canary 10/25/50/100"].simulation.duration_seconds or 0) >= 900


def test_the_recommendation_respects_the_surge_budget_and_says_why() -> None:
    (c,), _ = compare(deployment(10, startup=10))
    assert c.recommended == "canary 10/25/50/100"
    assert "exposes 10% of users before the first check" in c.reason
    assert "blue-green would need more than 15 pods at the peak" in c.reason
    (c,), _ = compare(deployment(10, startup=10), surge_budget=100)
    assert c.recommended == "blue-green"
    assert "exposes 0% of users" in c.reason


def test_a_rollout_with_a_workload_ref_compares_its_deployments_pods() -> None:
    target = deployment(4, startup=10)
    ref = workload(
        "Rollout",
        {
            "replicas": 4,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
        },
        name="web-rollout",
        api="argoproj.io/v1alpha1",
    )
    comparisons, report = compare(target, ref)
    assert report.problems == ()
    assert [c.workload for c in comparisons] == ["Deployment shop/web", "Rollout shop/web-rollout"]
    configured = comparisons[1].candidates[0]
    assert configured.simulation.duration_seconds is None  # the pause without duration
    assert configured.exposed_percent == 50.0
    assert comparisons[1].recommended != "as configured"  # an unbounded rollout is not advised


def test_the_cli_adds_comparisons_to_every_format(tmp_path: Path) -> None:
    path = write(tmp_path, deployment(10, startup=10))
    result = CliRunner().invoke(main, ["simulate", path, "--compare", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    (c,) = json.loads(result.stdout)["comparisons"]
    assert c["recommended"] == "canary 10/25/50/100" and len(c["candidates"]) == 4
    text = CliRunner().invoke(main, ["simulate", path, "--compare"]).stdout
    assert (
        "Strategies for Deployment shop/web:" in text
        and "recommended: canary 10/25/50/100. It keeps every pod serving" in text
    )
    without = CliRunner().invoke(main, ["simulate", path, "--format", "json"]).stdout
    assert json.loads(without)["comparisons"] == []
