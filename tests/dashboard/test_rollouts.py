"""`/rollouts`: live Deployments and Argo Rollouts from the stand-in API server, their ReplicaSets by
revision, and progress against the duration `rollguard simulate` gives the same object."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.dashboard.app import ClusterSettings, DashboardSettings

from ..audit.test_cluster import FakeApiServer, live
from ..conftest import FIXTURES
from .conftest import NOW, PROMOTION
from .test_app import JSON, get

ROLLOUT = FIXTURES / "k8s" / "rollout_analysis" / "allowed_canary_experiment_step.yaml"


def first(path: Path, kind: str) -> dict[str, Any]:
    return next(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict) and d.get("kind") == kind)


def replica_set(owner: Mapping[str, Any], *, revision: int, created: str, image: str, ready: int) -> dict[str, Any]:
    kind = owner["kind"]
    annotation = "deployment.kubernetes.io/revision" if kind == "Deployment" else "rollout.argoproj.io/revision"
    template = copy.deepcopy(owner["spec"]["template"])
    template["spec"]["containers"][0]["image"] = image
    rs = live(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{owner['metadata']['name']}-r{revision}",
                "namespace": owner["metadata"]["namespace"],
                "annotations": {annotation: str(revision)},
                "ownerReferences": [
                    {
                        "apiVersion": owner["apiVersion"],
                        "kind": kind,
                        "name": owner["metadata"]["name"],
                        "uid": owner["metadata"]["uid"],
                        "controller": True,
                    }
                ],  # fmt: skip
            },
            "spec": {"replicas": ready, "selector": owner["spec"]["selector"], "template": template},
        }
    )
    rs["metadata"]["creationTimestamp"] = created
    rs["status"] = {"replicas": ready, "readyReplicas": ready, "availableReplicas": ready}
    return rs


def cluster_objects(now: dt.datetime = NOW) -> list[dict[str, Any]]:
    """web halfway through 2.5.0 → 2.6.0 and past its simulated 75 s; stuck past its deadline; a paused Rollout."""
    web = live(first(PROMOTION / "web.yaml", "Deployment"))
    web["metadata"]["generation"] = 2
    web["status"] = {
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
             "message": 'ReplicaSet "web-r2" is progressing.', "lastUpdateTime": "2026-12-01T11:58:30Z"},
        ],
    }  # fmt: skip
    stuck = live(first(PROMOTION / "web.yaml", "Deployment"))
    stuck["metadata"]["name"] = "search"
    stuck["status"] = {
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                        "message": 'ReplicaSet "search-r4" has timed out progressing.'}],
    }  # fmt: skip
    done = live(first(FIXTURES / "demo" / "storefront.yaml", "Deployment"))
    done["status"] = {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    rollout = live(first(ROLLOUT, "Rollout"))
    rollout["status"] = {
        "phase": "Paused",
        "replicas": 3,
        "updatedReplicas": 1,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    image = "registry.example.com/shop/web:{}"

    def ago(seconds: int) -> str:
        return (now - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")

    return [
        web, stuck, done, rollout,
        replica_set(web, revision=1, created=ago(9 * 86400), image=image.format("2.5.0"), ready=3),
        replica_set(web, revision=2, created=ago(120), image=image.format("2.6.0"), ready=1),
        replica_set(stuck, revision=4, created=ago(7200), image=image.format("2.6.0"), ready=1),
        replica_set(done, revision=5, created=ago(7 * 86400), image="registry.example.com/shop/storefront:3.2.0", ready=3),
        replica_set(rollout, revision=3, created=ago(600), image="registry.example.com/shop/checkout:2.0.0", ready=1),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[FakeApiServer, list[dict[str, Any]]]]:
    objects = cluster_objects()
    with FakeApiServer(objects) as server:
        yield server, objects


@pytest.fixture
def with_cluster(
    settings: DashboardSettings, api: tuple[FakeApiServer, list[dict[str, Any]]], tmp_path: Path
) -> DashboardSettings:
    kubeconfig = api[0].kubeconfig(tmp_path / "kubeconfig")
    return dataclasses.replace(settings, cluster=ClusterSettings(kubeconfig=str(kubeconfig)))


def simulated(doc: Mapping[str, Any], tmp_path: Path) -> float | None:
    """What `rollguard simulate` says of the object alone."""
    path = tmp_path / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in doc.items() if k != "status"}))
    result = CliRunner().invoke(main, ["simulate", str(path), "--format", "json"])
    (workload,) = json.loads(result.stdout)["workloads"]
    return workload["duration_seconds"]


def test_live_rollouts_with_their_replicasets_and_progress(
    with_cluster: DashboardSettings, api: tuple[FakeApiServer, list[dict[str, Any]]], tmp_path: Path
) -> None:
    response = get(with_cluster, "/rollouts", JSON)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["cluster"] == f"context fake at {api[0].url}"
    rollouts = {(r["kind"], r["name"]): r for r in document["rollouts"]}
    assert sorted(rollouts) == [
        ("Deployment", "search"),
        ("Deployment", "storefront"),
        ("Deployment", "web"),
        ("Rollout", "checkout"),
    ]
    objects = {(o["kind"], o["metadata"]["name"]): o for o in api[1]}

    web = rollouts[("Deployment", "web")]
    assert (web["state"], web["desired"], web["updated"], web["ready"], web["available"]) == ("progressing", 3, 1, 3, 3)
    assert [(rs["revision"], rs["images"], rs["ready"]) for rs in web["replica_sets"]] == [
        (2, ["registry.example.com/shop/web:2.6.0"], 1),
        (1, ["registry.example.com/shop/web:2.5.0"], 3),
    ]
    assert web["started"] == "2026-12-01T11:58:00Z" and web["elapsed_seconds"] == 120.0
    assert web["simulated_seconds"] == simulated(objects[("Deployment", "web")], tmp_path) == 75.0
    assert web["progress"] == pytest.approx(120 / 75) and web["overdue"] is True
    assert ("Progressing", "True", "ReplicaSetUpdated") in [
        (c["type"], c["status"], c["reason"]) for c in web["conditions"]
    ]

    assert rollouts[("Deployment", "search")]["state"] == "stalled"
    done = rollouts[("Deployment", "storefront")]
    assert (done["state"], done["progress"], done["overdue"]) == ("complete", 1.0, False)
    checkout = rollouts[("Rollout", "checkout")]
    assert checkout["state"] == "paused" and checkout["replica_sets"][0]["revision"] == 3
    assert checkout["simulated_seconds"] == simulated(objects[("Rollout", "checkout")], tmp_path)
    assert checkout["elapsed_seconds"] == 600.0 and checkout["overdue"] is False
    assert checkout["progress"] == pytest.approx(600 / checkout["simulated_seconds"])

    paused = get(with_cluster, "/rollouts?state=paused,stalled", JSON).json()["rollouts"]
    assert sorted(r["name"] for r in paused) == ["checkout", "search"]


def test_the_rollouts_page(with_cluster: DashboardSettings) -> None:
    page = get(with_cluster, "/rollouts").text
    assert '<a href="/rollouts"' in page  # in the navigation once a cluster is given
    # A live workload the decision log knows links to its service page.
    assert '<a href="/service/web">web</a>' in page and '<a href="/service/search">' not in page
    assert "over the simulated duration" in page
    assert page.count('<tr data-rollout="') == 4


def test_without_a_cluster_the_page_is_off(settings: DashboardSettings) -> None:
    response = get(settings, "/rollouts", JSON)
    assert response.status_code == 404 and "--kubeconfig" in response.json()["error"]
    assert '<a href="/rollouts"' not in get(settings, "/").text


def test_an_unreachable_cluster_says_so(settings: DashboardSettings, tmp_path: Path) -> None:
    from ..audit.test_cluster import write_kubeconfig

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    down = dataclasses.replace(settings, cluster=ClusterSettings(kubeconfig=str(kubeconfig)))
    response = get(down, "/rollouts", JSON)
    assert response.status_code == 503
    assert response.json()["error"].startswith("cannot read the cluster's rollouts: ")
