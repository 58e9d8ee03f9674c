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


def test_the_advice_meets_the_rollout_objectives_or_says_which_it_misses() -> None:
    from rollguard.simulate.compare import Limits

    docs = change(deployment(10, startup=10))
    slo = [{"match": "shop/web", "objectives": {"max_rollout_minutes": 5}, "where": "slo.services.shop/web"}]
    (c,) = compare_change(docs, options=SimulationOptions(), limits=Limits(slo=slo))
    by_name = {k.name: k.simulation for k in c.candidates}
    assert (by_name["canary 10/25/50/100"].duration_seconds or 0) > 300
    assert c.recommended != "canary 10/25/50/100"
    assert (by_name[c.recommended].duration_seconds or 0) <= 300
    assert "canary 10/25/50/100 misses the 5 min rollout of slo.services.shop/web" in c.reason
    # A pattern for other workloads does not apply: the canary is advised again.
    other = [{**slo[0], "match": "shop/web-*"}]
    (c,) = compare_change(docs, options=SimulationOptions(), limits=Limits(slo=other))
    assert c.recommended == "canary 10/25/50/100"


def test_the_advice_fits_the_quota_room() -> None:
    from rollguard.simulate.compare import Limits
    from rollguard.simulate.waves import Room, surge_need

    docs = change(deployment(10, startup=10))
    (free,) = compare_change(docs, options=SimulationOptions())
    needs = {k.name: surge_need(k.simulation, "requests.cpu") for k in free.candidates}
    room = needs["rolling 1/0"]
    assert needs["canary 10/25/50/100"] > room  # the canary's 25% surge is more than one pod
    limits = Limits(rooms={"shop": [Room("compute", "requests.cpu", "requests.cpu", room)]})
    (c,) = compare_change(docs, options=SimulationOptions(), limits=limits)
    assert needs[c.recommended] <= room
    assert "canary 10/25/50/100 misses ResourceQuota shop/compute requests.cpu" in c.reason
    # No room at all: every candidate misses it, which is said, and the rest of the advice stands.
    none = Limits(rooms={"shop": [Room("compute", "requests.cpu", "requests.cpu", -1.0)]})
    (c,) = compare_change(docs, options=SimulationOptions(), limits=none)
    assert c.recommended == "canary 10/25/50/100"
    assert "no candidate fits ResourceQuota shop/compute requests.cpu" in c.reason


def test_the_cli_takes_the_objectives_of_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, deployment(10, startup=10))
    config = tmp_path / "rollguard.yaml"
    config.write_text("version: 1\nenvironments:\n  prod:\n    slo: {max_rollout_minutes: 5}\n  dev: {}\n")
    runs = {
        env: CliRunner().invoke(
            main, ["simulate", path, "--compare", "--config", str(config), "--env", env, "--format", "json"]
        )
        for env in ("prod", "dev")
    }
    assert all(r.exit_code == 0 for r in runs.values()), {e: r.output for e, r in runs.items()}
    (prod,) = json.loads(runs["prod"].stdout)["comparisons"]
    (dev,) = json.loads(runs["dev"].stdout)["comparisons"]
    assert "misses the 5 min rollout of environments.prod.slo" in prod["reason"]
    assert prod["recommended"] != dev["recommended"] == "canary 10/25/50/100"
