"""`rollguard simulate`: its formats, its exit codes, its config and its answer to hostile input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from rollguard.cli import main

from .manifests import deployment, pod_template, workload

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "demo" / "storefront.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, *docs: dict[str, Any]) -> str:
    path = tmp_path / "change.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return str(path)


def test_the_demo_in_every_format(tmp_path: Path) -> None:
    target = tmp_path / "simulation.json"
    code, out, err = run("simulate", str(DEMO), "--format", "json", "-o", str(target), "--format", "text")
    assert code == 0, err
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["version"] == 1 and document["errors"] == [] and document["failures"] == []
    (storefront,) = document["workloads"]
    # 3 replicas, maxSurge 25% → 1, maxUnavailable 50% → 1; readiness 10 s + 10 s pull; minReadySeconds 10.
    assert {k: storefront[k] for k in ("replicas", "max_surge", "max_unavailable", "peak_pods", "min_available")} == {
        "replicas": 3,
        "max_surge": 1,
        "max_unavailable": 1,
        "peak_pods": 4,
        "min_available": 2,
    }
    assert (storefront["rounds"], storefront["duration_seconds"], storefront["rollback_seconds"]) == (2, 60.0, 40.0)
    assert storefront["timeline"][0]["event"] == "rollout starts: 3 old pods available"
    assert out.startswith("Deployment shop/storefront  RollingUpdate  3 replicas (maxSurge 1, maxUnavailable 1)\n")
    assert "duration 60 s in 2 rounds; rollback 40 s" in out
    code, out, _ = run("simulate", str(DEMO), "--format", "markdown")
    assert code == 0
    assert "| Deployment shop/storefront | RollingUpdate | 3 | 1 / 1 | 4 (5) | 2 | 2 | 60 s | 40 s |" in out


def test_config_gives_startup_seconds(tmp_path: Path) -> None:
    doc = deployment(2, 1, 0)
    doc["spec"]["template"]["metadata"]["annotations"] = {}
    config = tmp_path / "rollguard.yaml"
    config.write_text("simulation:\n  startup_seconds:\n    shop/web: 25\n", encoding="utf-8")
    code, out, err = run("simulate", write(tmp_path, doc), "--config", str(config), "--format", "json")
    assert code == 0, err
    (w,) = json.loads(out)["workloads"]
    assert (w["pod_seconds"]["startup"], w["duration_seconds"]) == (25.0, 50.0)


def test_an_unknown_simulation_setting_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "rollguard.yaml"
    config.write_text("simulation:\n  startup_second: 25\n", encoding="utf-8")
    code, _, err = run("simulate", str(DEMO), "--config", str(config))
    assert code == 2
    assert "simulation" in err and "startup_second" in err


def test_nodes_size_a_daemon_set(tmp_path: Path) -> None:
    path = write(tmp_path, workload("DaemonSet", {"template": pod_template(startup=10)}))
    code, out, _ = run("simulate", path, "--nodes", "12", "--format", "json")
    assert code == 0
    (w,) = json.loads(out)["workloads"]
    assert (w["nodes"], w["rounds"]) == (12, 12)
    assert run("simulate", path, "--nodes", "0")[0] == 2


def test_unusable_input_is_exit_2_naming_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, deployment(3), deployment(3, "5", "25%") | {"metadata": {"name": "bad", "namespace": "shop"}}
    )
    code, out, err = run("simulate", path, "--format", "json")
    assert code == 2
    assert f"{path}:" in err and "Deployment shop/bad: spec.strategy.rollingUpdate" in err
    assert [w["name"] for w in json.loads(out)["workloads"]] == ["web"]  # the rest is still simulated


def test_an_unusable_only_workload_is_not_reported_as_nothing_to_simulate(tmp_path: Path) -> None:
    path = write(tmp_path, deployment(3, "5", "25%"))
    code, out, err = run("simulate", path)
    assert code == 2 and "Deployment shop/web: spec.strategy.rollingUpdate" in err
    assert "to simulate" not in out
    empty = write(tmp_path, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}})
    assert run("simulate", empty)[1] == "no Deployment, StatefulSet, DaemonSet or Rollout to simulate\n"


def test_hostile_counts_are_refused_quickly(tmp_path: Path) -> None:
    docs = [deployment(10**12), deployment(True) | {"metadata": {"name": "b", "namespace": "shop"}}]
    docs.append(deployment(3, startup=10**9) | {"metadata": {"name": "c", "namespace": "shop"}})
    code, _, err = run("simulate", write(tmp_path, *docs))
    assert code == 2
    assert "spec.replicas: 1,000,000,000,000 is more than the 10,000 the simulation accepts" in err
    assert "spec.replicas: True is not a whole number" in err
    assert "rollguard.io/startup-seconds" in err


def test_a_missing_file_is_exit_2(tmp_path: Path) -> None:
    code, _, err = run("simulate", str(tmp_path / "nope.yaml"))
    assert code == 2 and "file not found" in err


def test_a_simulation_that_cannot_end_is_exit_3(tmp_path: Path, monkeypatch: Any) -> None:
    from rollguard.simulate import change
    from rollguard.simulate.fleet import StuckError

    def stuck(*_args: Any, **_kwargs: Any) -> Any:
        raise StuckError("the rollout cannot finish")

    monkeypatch.setattr(change, "simulate_workload", stuck)
    code, _, err = run("simulate", write(tmp_path, deployment(3)))
    assert code == 3
    assert "Deployment shop/web: simulation failed: the rollout cannot finish" in err
