"""Admission mutations: patched objects pass the matching policies, and user-set values never change."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import jsonpatch
import jsonpointer
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.errors import ConfigError
from rollguard.gate import Gate
from rollguard.inputs.k8s import load_text
from rollguard.model import ChangeSet
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config
from rollguard.webhook.mutation import MutationSettings, mutate

from ..conftest import make_gate

KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
WATCHED = ("k8s.version_label", "k8s.graceful_shutdown", "k8s.revision_history", "k8s.progress_deadline")
ALL_ON = MutationSettings(version_label=True, prestop_sleep=True, revision_history=True, progress_deadline=True)
ALL_ON_CONFIG = {
    "version_label": True,
    "prestop_sleep": {"enabled": True},
    "revision_history_limit": 5,
    "progress_deadline_seconds": 600,
}
POD_LABELS = {"app.kubernetes.io/name": "checkout"}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "checkout", "namespace": "shop"},
    "spec": {"selector": POD_LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
}


def pod_spec(**extra: Any) -> dict[str, Any]:
    container = {
        "name": "checkout",
        "image": "registry.example.com/shop/checkout:2.4.1",
        "ports": [{"name": "http", "containerPort": 8080}],
    }
    return {"containers": [container], **extra}


def workload(kind: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `kind` behind SERVICE with no version label, preStop hook, history limit or deadline."""
    metadata = {"name": "checkout", "namespace": "shop"}
    template = {"metadata": {"labels": dict(POD_LABELS)}, "spec": spec or pod_spec()}
    if kind == "Pod":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {**metadata, **template["metadata"]},
            "spec": template["spec"],
        }
    if kind == "CronJob":
        job = {"spec": {"template": template}}
        return {
            "apiVersion": "batch/v1",
            "kind": kind,
            "metadata": metadata,
            "spec": {"schedule": "0 * * * *", "jobTemplate": job},
        }
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": metadata, "spec": {"template": template}}
    selector = {"matchLabels": dict(POD_LABELS)}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": metadata,
        "spec": {"selector": selector, "template": template},
    }


def patched(obj: dict[str, Any], mutations: MutationSettings = ALL_ON, **kwargs: Any) -> dict[str, Any]:
    patch = mutate(obj, mutations, **kwargs)
    result: dict[str, Any] = jsonpatch.apply_patch(obj, patch)
    return result


def watched_findings(gate: Gate, obj: dict[str, Any]) -> dict[str, list[str]]:
    """Messages of the watched policies for `obj`, judged beside SERVICE."""
    artifacts, problems = load_text("change.yaml", yaml.safe_dump_all([obj, SERVICE]))
    assert not problems
    decision = gate.judge(ChangeSet(artifacts=tuple(artifacts)))
    assert not decision.errors, [f.message for f in decision.errors]
    found: dict[str, list[str]] = {}
    for f in decision.findings:
        if f.policy in WATCHED and f.resource.kind == obj["kind"]:
            found.setdefault(f.policy, []).append(f.message)
    return found


# Which watched policies the unmutated workload fails: revision_history passes an unset limit.
# version_label judges rolled kinds only; an unset progress deadline is the API's 600 s, which passes.
EXPECTED_BEFORE = {
    "Deployment": {"k8s.version_label", "k8s.graceful_shutdown"},
    "StatefulSet": {"k8s.version_label", "k8s.graceful_shutdown"},
    "DaemonSet": {"k8s.version_label", "k8s.graceful_shutdown"},
    "ReplicaSet": {"k8s.graceful_shutdown"},
    "Job": set(),
    "CronJob": set(),
    "Pod": {"k8s.graceful_shutdown"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_mutated_workload_passes_the_matching_policies(gate: Gate, kind: str) -> None:
    obj = workload(kind)
    assert set(watched_findings(gate, obj)) == EXPECTED_BEFORE[kind]
    mutations = MutationSettings.from_config(ALL_ON_CONFIG, policy_parameters=gate.parameters)
    assert watched_findings(gate, patched(obj, mutations)) == {}


def test_mutated_deployment_has_exactly_the_defaults() -> None:
    result = patched(workload("Deployment"))
    assert result["spec"]["revisionHistoryLimit"] == 5
    assert result["spec"]["progressDeadlineSeconds"] == 600
    template = result["spec"]["template"]
    assert template["metadata"]["labels"] == {**POD_LABELS, "app.kubernetes.io/version": "2.4.1"}
    assert template["spec"]["containers"][0]["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    # The default 30s covers 5s of sleep plus 15s of drain: nothing to raise.
    assert "terminationGracePeriodSeconds" not in template["spec"]


def test_revision_history_limit_covers_statefulsets_and_daemonsets_only() -> None:
    for kind in ("StatefulSet", "DaemonSet"):
        assert patched(workload(kind))["spec"]["revisionHistoryLimit"] == 5
    for kind in ("ReplicaSet", "Job", "CronJob", "Pod"):
        assert "revisionHistoryLimit" not in patched(workload(kind))["spec"]
        assert "progressDeadlineSeconds" not in patched(workload(kind))["spec"]


def test_long_sleep_raises_an_unset_grace_period(gate: Gate) -> None:
    obj = workload("Deployment")
    result = patched(obj, MutationSettings(prestop_sleep=True, prestop_seconds=20))
    spec = result["spec"]["template"]["spec"]
    assert spec["containers"][0]["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "20"]}}
    assert spec["terminationGracePeriodSeconds"] == 35
    assert "k8s.graceful_shutdown" not in watched_findings(gate, result)


def test_drain_seconds_come_from_the_policy_parameters(gate: Gate, bundle: PolicyBundle) -> None:
    config = Config(parameters={"k8s.graceful_shutdown": {"drain_seconds": 40}})
    strict = make_gate(bundle, gate.engine.name, config.resolve(None))
    raw = {"prestop_sleep": {"enabled": True}}
    result = patched(workload("Deployment"), MutationSettings.from_config(raw, policy_parameters=strict.parameters))
    assert result["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 45
    assert "k8s.graceful_shutdown" not in watched_findings(strict, result)


def test_user_set_grace_period_too_short_for_the_hook_is_left_alone(gate: Gate) -> None:
    obj = workload("Deployment", pod_spec(terminationGracePeriodSeconds=10))
    assert mutate(obj, MutationSettings(prestop_sleep=True)) == []
    # Why: with the hook but without rewriting the user's 10s, the missing-hook finding
    # would only be traded for a grace-period one.
    hooked = copy.deepcopy(obj)
    hooked["spec"]["template"]["spec"]["containers"][0]["lifecycle"] = {
        "preStop": {"exec": {"command": ["sleep", "5"]}}
    }
    [missing_hook] = watched_findings(gate, obj)["k8s.graceful_shutdown"]
    [too_short] = watched_findings(gate, hooked)["k8s.graceful_shutdown"]
    assert "no preStop hook" in missing_hook
    assert "terminationGracePeriodSeconds is 10, shorter than" in too_short


def test_user_set_grace_period_long_enough_keeps_the_hook() -> None:
    obj = workload("Deployment", pod_spec(terminationGracePeriodSeconds=20))
    assert mutate(obj, MutationSettings(prestop_sleep=True)) == [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/lifecycle",
            "value": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        }
    ]


def test_containers_without_ports_or_with_a_hook_get_none() -> None:
    spec = pod_spec()
    spec["containers"] += [
        {"name": "worker", "image": "worker:1"},
        {
            "name": "proxy",
            "image": "proxy:1",
            "ports": [{"containerPort": 15001}],
            "lifecycle": {"preStop": {"sleep": {"seconds": 3}}},
        },
        {
            "name": "api",
            "image": "api:1",
            "ports": [{"containerPort": 9090}],
            "lifecycle": {"postStart": {"exec": {"command": ["true"]}}},
        },
    ]
    result = patched(workload("Deployment", spec), MutationSettings(prestop_sleep=True))
    containers = result["spec"]["template"]["spec"]["containers"]
    hook = {"exec": {"command": ["sleep", "5"]}}
    assert [c.get("lifecycle") for c in containers] == [
        {"preStop": hook},
        None,
        {"preStop": {"sleep": {"seconds": 3}}},
        {"postStart": {"exec": {"command": ["true"]}}, "preStop": hook},
    ]


@pytest.mark.parametrize(
    "image",
    [
        "checkout",
        "checkout@sha256:" + "a" * 64,
        "registry.example.com:5000/checkout",
        "checkout:v1_",
        "checkout:" + "1" * 64,
    ],
)
def test_no_usable_tag_leaves_the_label_unset(image: str) -> None:
    spec = pod_spec()
    spec["containers"][0]["image"] = image
    assert mutate(workload("Deployment", spec), MutationSettings(version_label=True)) == []


def test_version_label_creates_missing_metadata_and_labels() -> None:
    for kind in ("Deployment", "CronJob"):
        obj = workload(kind)
        template = obj["spec"]["template"] if kind == "Deployment" else obj["spec"]["jobTemplate"]["spec"]["template"]
        del template["metadata"]
        patch = mutate(obj, MutationSettings(version_label=True))
        assert [op["op"] for op in patch] == ["add"]
        assert patch[0]["value"] == {"labels": {"app.kubernetes.io/version": "2.4.1"}}


def test_version_label_name_comes_from_the_policy_parameters() -> None:
    mutations = MutationSettings.from_config(
        {"version_label": True},
        policy_parameters={"k8s.version_label": {"labels": ["version", "app.kubernetes.io/version"]}},
    )
    labels = patched(workload("Pod"), mutations)["metadata"]["labels"]
    assert labels == {**POD_LABELS, "version": "2.4.1"}
    # Any one of the policy's labels satisfies it: an object carrying the second gets nothing.
    pod = workload("Pod")
    pod["metadata"]["labels"]["app.kubernetes.io/version"] = "2.4.0"
    assert mutate(pod, mutations) == []


def test_null_counts_as_unset() -> None:
    obj = workload("Deployment")
    obj["spec"].update(revisionHistoryLimit=None, progressDeadlineSeconds=None)
    obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] = None
    patch = mutate(obj, ALL_ON)
    replaced = {op["path"]: op["value"] for op in patch if op["op"] == "replace"}
    assert replaced == {
        "/spec/revisionHistoryLimit": 5,
        "/spec/progressDeadlineSeconds": 600,
        "/spec/template/metadata/labels/app.kubernetes.io~1version": "2.4.1",
    }


def test_progress_deadline_stays_above_min_ready_seconds() -> None:
    obj = workload("Deployment")
    obj["spec"]["minReadySeconds"] = 600
    assert mutate(obj, MutationSettings(progress_deadline=True)) == []
    obj["spec"]["minReadySeconds"] = 599
    assert patched(obj, MutationSettings(progress_deadline=True))["spec"]["progressDeadlineSeconds"] == 600


def test_update_leaves_immutable_fields_alone() -> None:
    pod = patched(workload("Pod"), operation="UPDATE")
    assert pod["metadata"]["labels"]["app.kubernetes.io/version"] == "2.4.1"  # labels stay mutable
    assert pod["spec"] == workload("Pod")["spec"]
    assert mutate(workload("Job"), ALL_ON, operation="UPDATE") == []
    deployment = workload("Deployment")
    assert mutate(deployment, ALL_ON, operation="UPDATE") == mutate(deployment, ALL_ON)


@pytest.mark.parametrize("kind", KINDS)
def test_disabled_mutations_give_an_empty_patch(kind: str) -> None:
    assert mutate(workload(kind), MutationSettings()) == []
    assert mutate(workload(kind), MutationSettings.from_config({})) == []


def test_other_kinds_are_untouched() -> None:
    assert mutate(SERVICE, ALL_ON) == []
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "spec": workload("Deployment")["spec"]}
    assert mutate(rollout, ALL_ON) == []


def test_the_input_is_not_modified() -> None:
    obj = workload("Deployment")
    before = copy.deepcopy(obj)
    mutate(obj, ALL_ON)
    assert obj == before


# --- configuration ---


def test_from_config_reads_every_mutation() -> None:
    raw = {
        "version_label": True,
        "prestop_sleep": {"enabled": True, "seconds": 10},
        "revision_history_limit": 3,
        "progress_deadline_seconds": 300,
    }
    assert MutationSettings.from_config(raw) == MutationSettings(
        version_label=True,
        prestop_sleep=True,
        prestop_seconds=10,
        revision_history=True,
        revision_history_limit=3,
        progress_deadline=True,
        progress_deadline_seconds=300,
    )


def test_from_config_defaults_turn_everything_off() -> None:
    assert MutationSettings.from_config(None) == MutationSettings()
    off = {
        "version_label": False,
        "prestop_sleep": {"seconds": 9},
        "revision_history_limit": None,
        "progress_deadline_seconds": None,
    }
    assert MutationSettings.from_config(off) == MutationSettings(prestop_seconds=9)
    assert MutationSettings.from_config({"prestop_sleep": {"enabled": True}}).prestop_seconds == 5


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"version_label": "yes"}, "version_label"),
        ({"prestop_sleep": True}, "prestop_sleep"),
        ({"prestop_sleep": {"enabled": True, "seconds": 0}}, "prestop_sleep.seconds"),
        ({"revision_history_limit": True}, "revision_history_limit"),
        ({"progress_deadline_seconds": "600"}, "progress_deadline_seconds"),
    ],
)
def test_from_config_rejects_malformed_values(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^admission\.mutations\.{key}: "):
        MutationSettings.from_config(raw)


def test_from_config_refuses_values_the_policies_would_report(gate: Gate) -> None:
    with pytest.raises(
        ConfigError, match=r"revision_history_limit: 1 is below k8s.revision_history's min_revisions \(2\)"
    ):
        MutationSettings.from_config({"revision_history_limit": 1}, policy_parameters=gate.parameters)
    with pytest.raises(
        ConfigError, match=r"progress_deadline_seconds: 1200 is above k8s.progress_deadline's max_seconds"
    ):
        MutationSettings.from_config({"progress_deadline_seconds": 1200}, policy_parameters=gate.parameters)
    # Without the policies (not selected) there is nothing to be consistent with.
    assert MutationSettings.from_config({"progress_deadline_seconds": 1200}).progress_deadline_seconds == 1200


# --- properties over arbitrary pre-set fields ---

_IMAGES = st.sampled_from(
    [
        "app",
        "app:1.2.3",
        "app:latest",
        "app:bad_",
        "registry.example.com:5000/app",
        "registry.example.com:5000/app:v2@sha256:" + "a" * 64,
        "app@sha256:" + "b" * 64,
    ]
)
_SECONDS = st.integers(min_value=0, max_value=2000)
_LABEL = st.text(alphabet="abc.-_0123456789", max_size=8)
_LIFECYCLES = st.one_of(
    st.just({}),
    st.just({"postStart": {"exec": {"command": ["true"]}}}),
    st.builds(lambda n: {"preStop": {"exec": {"command": ["sleep", str(n)]}}}, _SECONDS),
    st.builds(lambda n: {"preStop": {"sleep": {"seconds": n}}}, _SECONDS),
)
_CONTAINERS = st.fixed_dictionaries(
    {"name": st.sampled_from(["app", "sidecar"]), "image": _IMAGES},
    optional={
        "ports": st.lists(st.fixed_dictionaries({"containerPort": st.integers(1, 65535)}), max_size=2),
        "lifecycle": _LIFECYCLES,
    },
)
_POD_SPECS = st.fixed_dictionaries(
    {"containers": st.lists(_CONTAINERS, min_size=1, max_size=3)},
    optional={"terminationGracePeriodSeconds": _SECONDS},
)
_METADATA = st.fixed_dictionaries(
    {},
    optional={
        "labels": st.dictionaries(
            st.sampled_from(["app.kubernetes.io/version", "app.kubernetes.io/name", "tier"]), _LABEL
        )
    },
)
_TEMPLATES = st.fixed_dictionaries({"spec": _POD_SPECS}, optional={"metadata": _METADATA})
_WORKLOAD_SPEC = {
    "revisionHistoryLimit": _SECONDS,
    "progressDeadlineSeconds": st.integers(min_value=1, max_value=2000),
    "minReadySeconds": _SECONDS,
}


@st.composite
def workloads(draw: st.DrawFn) -> dict[str, Any]:
    """Any of KINDS with a random subset of the fields the mutations fill in already set."""
    kind = draw(st.sampled_from(KINDS))
    template = draw(_TEMPLATES)
    if kind == "Pod":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": template.get("metadata", {"name": "p"}),
            "spec": template["spec"],
        }
    if kind == "CronJob":
        return {"apiVersion": "batch/v1", "kind": kind, "spec": {"jobTemplate": {"spec": {"template": template}}}}
    spec = draw(st.fixed_dictionaries({"template": st.just(template)}, optional=_WORKLOAD_SPEC))
    return {"apiVersion": "apps/v1", "kind": kind, "spec": spec}


_MUTATIONS = st.builds(
    MutationSettings,
    version_label=st.booleans(),
    prestop_sleep=st.booleans(),
    prestop_seconds=st.integers(min_value=1, max_value=120),
    revision_history=st.booleans(),
    revision_history_limit=st.integers(min_value=2, max_value=20),
    progress_deadline=st.booleans(),
    progress_deadline_seconds=st.integers(min_value=1, max_value=900),
    drain_seconds=st.integers(min_value=0, max_value=60),
)


def leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every scalar, and of every list as its length: lists never grow."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, list):
        yield (*path, "#len"), len(node)
        for i, v in enumerate(node):
            yield from leaves(v, (*path, i))
    else:
        yield path, node


def value_at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = len(node) if part == "#len" else node[part]
    return node


@settings(max_examples=300, deadline=None)
@given(obj=workloads(), mutations=_MUTATIONS, operation=st.sampled_from(["CREATE", "UPDATE"]))
def test_values_the_user_set_never_change(obj: dict[str, Any], mutations: MutationSettings, operation: str) -> None:
    patch = mutate(obj, mutations, operation=operation)
    assert {op["op"] for op in patch} <= {"add", "replace"}
    # replace only fills a null, which Kubernetes reads as unset.
    assert all(jsonpointer.resolve_pointer(obj, op["path"]) is None for op in patch if op["op"] == "replace")
    result = jsonpatch.apply_patch(obj, patch)
    for path, value in leaves(obj):
        assert value_at(result, path) == value, f"{'/'.join(map(str, path))} changed"


@settings(max_examples=200, deadline=None)
@given(obj=workloads(), mutations=_MUTATIONS)
def test_mutating_twice_changes_nothing_more(obj: dict[str, Any], mutations: MutationSettings) -> None:
    # The API server may reinvoke webhooks; a second pass must find nothing left to do.
    once = jsonpatch.apply_patch(obj, mutate(obj, mutations))
    assert mutate(once, mutations) == []


@settings(max_examples=100, deadline=None)
@given(obj=workloads())
def test_nothing_enabled_never_patches(obj: dict[str, Any]) -> None:
    assert mutate(obj, MutationSettings()) == []
