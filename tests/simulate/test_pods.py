"""A pod's times and resources as the simulation reads them from its template."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollguard.simulate import SimulationOptions, simulate_change
from rollguard.simulate.pods import PodInputError, parse_quantity, pod_resources, pod_times

from .manifests import change, deployment, only


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("512Mi", Decimal(512 * 2**20)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        (2, Decimal(2)),
        ("100k", Decimal(100_000)),
    ],
)
def test_quantities_read_as_kubernetes_writes_them(text: Any, value: Decimal) -> None:
    assert parse_quantity(text, "cpu") == value


@given(st.text(max_size=20))
def test_any_text_is_a_quantity_or_a_named_error(text: str) -> None:
    try:
        assert parse_quantity(text, "resources.requests.cpu") >= 0
    except PodInputError as exc:
        assert "resources.requests.cpu" in str(exc)


def times(doc: dict[str, Any], options: SimulationOptions | None = None) -> tuple[Any, list[str]]:
    return pod_times(doc, kind="Deployment", namespace="shop", name="web", options=options or SimulationOptions())


def probed(**container: Any) -> dict[str, Any]:
    doc = deployment(1)
    doc["spec"]["template"]["metadata"]["annotations"] = {}
    doc["spec"]["template"]["spec"]["containers"][0].update(container)
    return doc


def test_startup_from_the_probes_of_the_slowest_container_plus_the_pull() -> None:
    doc = probed(
        startupProbe={"periodSeconds": 5, "initialDelaySeconds": 10},
        readinessProbe={"periodSeconds": 4, "successThreshold": 3},
    )
    doc["spec"]["template"]["spec"]["containers"].append({"name": "side", "readinessProbe": {"initialDelaySeconds": 2}})
    found, notes = times(doc, SimulationOptions(image_pull_seconds=7))
    # web: (10 + 5 × 1) + (0 + 4 × 3) = 27; side: 2 + 10 × 1 = 12; plus 7 s of pull.
    assert (found.startup, found.image_pull) == (34.0, 7.0)
    assert any("container web's startupProbe and readinessProbe" in n for n in notes)


def test_the_annotation_wins_over_the_config_which_wins_over_the_probes() -> None:
    doc = probed(readinessProbe={"periodSeconds": 5})
    options = SimulationOptions(startup_seconds={"shop/web": 42})
    assert times(doc, options)[0].startup == 42.0
    doc["metadata"]["annotations"] = {"rollguard.io/startup-seconds": "90"}
    found, notes = times(doc, options)
    assert (found.startup, found.image_pull) == (90.0, 0.0)
    assert not any("start-up" in n for n in notes)


def test_termination_is_the_grace_period_unless_the_pre_stop_hook_outlasts_it() -> None:
    doc = probed(lifecycle={"preStop": {"exec": {"command": ["sh", "-c", "sleep 40"]}}})
    doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    found, notes = times(doc)
    assert found.termination == 32.0
    assert any("outlasts the grace period" in n for n in notes)
    doc["spec"]["template"]["spec"]["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
    assert times(doc)[0].termination == 30.0


@pytest.mark.parametrize("value", ["soon", "-1", "1e400", True, "nan"])
def test_unusable_startup_annotations_are_named(value: Any) -> None:
    doc = probed()
    doc["metadata"]["annotations"] = {"rollguard.io/startup-seconds": value}
    with pytest.raises(PodInputError, match="rollguard.io/startup-seconds"):
        times(doc)


def test_requests_default_to_limits_and_init_containers_count_when_larger() -> None:
    doc = deployment(1)
    spec = doc["spec"]["template"]["spec"]
    spec["containers"] = [
        {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        {"name": "b", "resources": {"requests": {"cpu": "250m"}}},
    ]
    spec["initContainers"] = [
        {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
        {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "256Mi"}}},
    ]
    requests, limits, _ = pod_resources(doc)
    # Running: proxy 0.1 + a 1 + b 0.25 = 1.35 cpu; the init container runs beside the sidecar
    # started before it: 0.1 + 2 = 2.1.
    assert (requests.cpu, requests.memory) == (2.1, 2**30)
    spec["initContainers"].reverse()  # a sidecar started after it does not run beside it
    assert pod_resources(doc)[0].cpu == 2.0
    assert (limits.cpu, limits.memory) == (1.0, 2**30)


def test_containers_without_requests_are_said() -> None:
    doc = deployment(2)
    doc["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    w = only(doc)
    assert w.pod_requests.cpu == 0
    assert any("set no requests" in e for e in w.estimates)


def limit_range(namespace: str = "shop", **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "container-defaults", "namespace": namespace},
        "spec": {"limits": [{"type": "Pod", "max": {"cpu": "8"}}, {"type": "Container", **container}]},
    }


def test_limit_range_defaults_fill_in_what_containers_leave_out() -> None:
    doc = deployment(2)
    doc["spec"]["template"]["spec"]["containers"] = [
        {"name": "bare", "resources": {}},
        {"name": "limited", "resources": {"limits": {"cpu": "2"}}},
        {"name": "requested", "resources": {"requests": {"memory": "64Mi"}}},
    ]
    ranges = limit_range(default={"cpu": "1", "memory": "512Mi"}, defaultRequest={"cpu": "100m"})
    w = only(doc, ranges)
    # bare: request 100m (defaultRequest) and memory 512Mi (the default limit, no defaultRequest);
    # limited: its own limit is its request; requested: 64Mi and the default 100m.
    assert (w.pod_requests.cpu, w.pod_requests.memory) == (0.1 + 2 + 0.1, 512 * 2**20 + 512 * 2**20 + 64 * 2**20)
    assert (w.pod_limits.cpu, w.pod_limits.memory) == (1 + 2 + 1, 3 * 512 * 2**20)
    assert (
        "1 container(s) set no requests: the defaults of LimitRange container-defaults filled in (cpu 100m, memory 512Mi)"
        in w.estimates
    )
    # Another namespace's LimitRange does not apply.
    assert only(doc, limit_range("other", default={"cpu": "1"})).pod_limits.cpu == 2.0


def test_limit_ranges_from_outside_the_change_apply_unless_the_change_has_its_own() -> None:
    doc = deployment(1)
    doc["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    cluster = (limit_range(defaultRequest={"cpu": "300m"}),)
    report = simulate_change(change(doc), limit_ranges=cluster)
    assert report.workloads[0].pod_requests.cpu == 0.3
    report = simulate_change(change(doc, limit_range(defaultRequest={"cpu": "200m"})), limit_ranges=cluster)
    assert report.workloads[0].pod_requests.cpu == 0.2
