"""Properties of every rolling update: the bounds the controller keeps, an end, and fewer rounds with more surge."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rollguard.simulate.controllers import DaemonSetRolling, DeploymentRolling, StatefulSetRolling, play
from rollguard.simulate.fenceposts import deployment_max_unavailable, resolve_fenceposts
from rollguard.simulate.fleet import PodTiming

from .manifests import deployment, simulate

int_or_percent = st.one_of(st.integers(0, 12), st.integers(0, 100).map(lambda p: f"{p}%"))
timings = st.builds(
    PodTiming,
    startup=st.floats(0, 600, allow_nan=False),
    min_ready=st.floats(0, 120, allow_nan=False),
    termination=st.floats(0, 120, allow_nan=False),
)


def rolling(replicas: int, surge: int, unavailable: int, timing: PodTiming) -> DeploymentRolling:
    return DeploymentRolling(replicas=replicas, max_surge=surge, max_unavailable=unavailable, timing=(timing, timing))


@given(st.integers(0, 40), int_or_percent, int_or_percent, timings)
def test_the_controller_keeps_its_bounds_and_ends(
    replicas: int, surge_value: object, unavailable_value: object, timing: PodTiming
) -> None:
    surge, _ = resolve_fenceposts(surge_value, unavailable_value, replicas)
    unavailable = deployment_max_unavailable(surge_value, unavailable_value, replicas)
    outcome = play(rolling(replicas, surge, unavailable, timing))
    assert outcome.complete_at is not None  # a bounded start-up always ends
    assert outcome.fleet.peak_counted <= replicas + surge
    assert all(e.total <= replicas + surge for e in outcome.fleet.timeline)
    assert outcome.fleet.min_available is not None
    assert outcome.fleet.min_available >= replicas - unavailable
    assert all(e.available >= replicas - unavailable for e in outcome.fleet.timeline)
    assert outcome.fleet.available("new") == replicas and outcome.fleet.count("old") == 0


@given(st.integers(1, 40), st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), timings)
def test_rounds_never_grow_with_more_surge(
    replicas: int, low: int, high: int, unavailable: int, timing: PodTiming
) -> None:
    low, high = sorted((low, high))
    rounds = []
    for surge in (low, high):
        resolved_unavailable = min(1 if surge == 0 and unavailable == 0 else unavailable, replicas)
        rounds.append(play(rolling(replicas, surge, resolved_unavailable, timing)).rounds)
    assert rounds[0] >= rounds[1]


@given(st.integers(0, 30), int_or_percent, int_or_percent)
def test_the_whole_path_from_a_manifest_holds_the_same_bounds(
    replicas: int, surge: object, unavailable: object
) -> None:
    report = simulate(deployment(replicas, surge, unavailable, startup=7))
    assert report.problems == ()
    (w,) = report.workloads
    assert w.peak_pods <= w.replicas + w.max_surge
    assert w.min_available >= w.replicas - w.max_unavailable
    assert w.duration_seconds is not None and w.rollback_seconds is not None


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["25%", "0%", "-1%", "abc", "1e9", "", "100%", "1h", "30s"]),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["duration", "seconds", "replicas"]), st.integers(-1, 5), max_size=2),
)


@given(
    st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "Rollout"]),
    st.dictionaries(
        st.sampled_from(["replicas", "minReadySeconds", "paused", "partition", "maxSurge", "maxUnavailable", "steps"]),
        anything,
    ),
    anything,
)
def test_hostile_fields_are_problems_never_crashes(kind: str, fields: dict[str, object], probe: object) -> None:
    doc = deployment(3, fields.pop("maxSurge", "25%"), fields.pop("maxUnavailable", "25%"), startup=5)
    doc["kind"] = kind
    spec = doc["spec"]
    spec.update({k: v for k, v in fields.items() if k in ("replicas", "minReadySeconds", "paused")})
    rolling = spec["strategy"]["rollingUpdate"]
    spec["updateStrategy"] = {"rollingUpdate": {**rolling, "partition": fields.get("partition", 0)}}
    spec["strategy"] = {**spec["strategy"], "canary": {**rolling, "steps": fields.get("steps", [])}}
    spec["template"]["spec"]["containers"][0]["readinessProbe"] = {"periodSeconds": probe}
    report = simulate(doc)
    assert report.failures == ()
    assert len(report.workloads) + len(report.problems) == 1
    for p in report.problems:
        assert p.file == "change.yaml" and p.message.startswith(f"{kind} shop/web: ")


@given(st.integers(0, 30), st.integers(0, 30), st.integers(1, 6), timings)
def test_stateful_sets_end_within_their_bounds(
    replicas: int, partition: int, unavailable: int, timing: PodTiming
) -> None:
    outcome = play(
        StatefulSetRolling(replicas=replicas, partition=partition, max_unavailable=unavailable, timing=(timing, timing))
    )
    assert outcome.complete_at is not None
    assert outcome.fleet.peak_counted <= replicas
    assert outcome.fleet.min_available is not None
    assert outcome.fleet.min_available >= replicas - unavailable
    assert outcome.fleet.count("new") == max(0, replicas - partition)


@given(st.integers(1, 30), st.integers(0, 5), st.integers(1, 5), timings)
def test_daemon_sets_end_within_their_bounds(nodes: int, surge: int, unavailable: int, timing: PodTiming) -> None:
    outcome = play(DaemonSetRolling(nodes=nodes, max_surge=surge, max_unavailable=unavailable, timing=(timing, timing)))
    assert outcome.complete_at is not None
    assert outcome.fleet.peak_counted <= nodes + surge
    assert outcome.fleet.min_available == (nodes if surge else max(0, nodes - unavailable))
    assert outcome.fleet.available("new") == nodes
