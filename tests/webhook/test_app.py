"""The webhook app in-process: answers, exemptions, failure modes, recording, reload and metrics.

Requests go through the real ASGI app (httpx's ASGI transport) and the real OPA engine; the
HTTPS server itself is exercised in test_https.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rollguard.audit.store import open_store
from rollguard.contract import build_inventory
from rollguard.inputs import load_change_set
from rollguard.policy.bundle import PolicySources, load_bundle
from rollguard.webhook.app import create_app
from rollguard.webhook.evaluation import PoolOptions
from rollguard.webhook.metrics import Metrics
from rollguard.webhook.recorder import DecisionRecorder
from rollguard.webhook.review import MAX_BODY_BYTES, short_warning
from rollguard.webhook.service import AdmissionService, PolicySource

from ..conftest import FIXTURES, POLICIES

BASELINE = FIXTURES / "k8s" / "readiness_probe" / "allowed_deployment.yaml"
NO_PROBE = FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml"
SYNCED = frozenset(
    {
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Namespace",
        "ResourceQuota",
        "LimitRange",
    }
)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def the_deployment(path: Path) -> dict[str, Any]:
    return next(d for d in documents(path) if d["kind"] == "Deployment")


def static_inventory(docs: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    """An inventory source holding `docs`, as a completed --sync of the usual kinds would."""
    inventory = build_inventory(d for d in docs if d["kind"] in SYNCED)
    return lambda: (inventory, SYNCED)


def admission_review(
    doc: Mapping[str, Any] | None,
    *,
    uid: str = "3f1c8a52-0d6e-4d7e-9c61-2f5b9a0e7d11",
    operation: str = "CREATE",
    namespace: str | None = None,
    user: str = "alice",
    groups: tuple[str, ...] = ("developers",),
    api_version: str = "admission.k8s.io/v1",
    dry_run: bool = False,
    old: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    subject = doc or old or {}
    group, _, version = subject["apiVersion"].rpartition("/")
    meta = subject["metadata"]
    return {
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": subject["kind"]},
            "resource": {"group": group, "version": version, "resource": subject["kind"].lower() + "s"},
            "operation": operation,
            "namespace": namespace or meta.get("namespace", "default"),
            "name": meta["name"],
            "object": doc,
            "oldObject": old,
            "userInfo": {"username": user, "groups": list(groups)},
            "dryRun": dry_run,
        },
    }


def make_service(
    tmp_path: Path,
    *,
    config: str | None = None,
    store: str | None = None,
    policies: Path = POLICIES,
    inventory_docs: list[dict[str, Any]] | None = None,
    metrics: Metrics | None = None,
    recorder: DecisionRecorder | None = None,
    engine: str = "opa",
    evaluators: int = 1,
    memory_mib: int = PoolOptions.memory_limit_mib,
) -> AdmissionService:
    config_path = None
    if config is not None:
        config_path = tmp_path / "rollguard.yaml"
        config_path.write_text(config)
    metrics = metrics or Metrics()
    if recorder is None and store is not None:
        recorder = DecisionRecorder(store, metrics)
    service = AdmissionService(
        PolicySource(policies=PolicySources(base=policies), config_path=config_path, environment=None, engine=engine),
        metrics=metrics,
        recorder=recorder,
        own_namespace="rollguard-system",
        inventory=static_inventory(inventory_docs if inventory_docs is not None else documents(BASELINE)),
        evaluation=PoolOptions(size=evaluators, memory_limit_mib=memory_mib),
    )
    service.load()
    return service


def call(service: AdmissionService, path: str, body: Any, *, method: str = "POST") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="https://rollguard.test") as client:
            if method == "GET":
                return await client.get(path)
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            return await client.post(path, content=content, headers={"content-type": "application/json"})

    return asyncio.run(go())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdmissionService]:
    svc = make_service(tmp_path_factory.mktemp("svc"), evaluators=2)
    yield svc
    svc.close()


def cli_messages(*paths: Path, name: str) -> list[str]:
    """`[policy] message` for the object `name` as `rollguard check` judges the same files."""
    from rollguard.engine import create_engine
    from rollguard.gate import Gate
    from rollguard.policy.bundle import load_bundle
    from rollguard.policy.config import Config

    from ..conftest import NOW

    gate = Gate(load_bundle(POLICIES), create_engine("opa"), Config().resolve(None), NOW)
    decision = gate.judge(load_change_set([str(p) for p in paths]))
    return sorted(f"[{f.policy}] {f.message}" for f in decision.findings if f.resource.name == name)


def test_a_deny_names_the_resource_and_each_blocking_finding_like_the_cli(
    service: AdmissionService, tmp_path: Path
) -> None:
    deployment = the_deployment(NO_PROBE)
    response = call(service, "/validate", admission_review(deployment))
    assert response.status_code == 200
    answer = response.json()
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    result = answer["response"]
    assert result["uid"] == "3f1c8a52-0d6e-4d7e-9c61-2f5b9a0e7d11"
    assert result["allowed"] is False and result["status"]["code"] == 403
    first, *lines = result["status"]["message"].splitlines()
    assert first == "rollguard denied Deployment shop/checkout:"
    assert lines == ['[k8s.readiness_probe] container "checkout" has no readinessProbe']
    # The same answer as `rollguard check` on the same object with the same other objects around it.
    others = tmp_path / "others.yaml"
    others.write_text(yaml.safe_dump_all([d for d in documents(BASELINE) if d["kind"] != "Deployment"]))
    assert lines == cli_messages(NO_PROBE, others, name="checkout")


def test_a_compliant_object_is_allowed_without_warnings(service: AdmissionService) -> None:
    result = call(service, "/validate", admission_review(the_deployment(BASELINE))).json()["response"]
    assert result == {"uid": "3f1c8a52-0d6e-4d7e-9c61-2f5b9a0e7d11", "allowed": True}


def test_v1beta1_is_answered_in_v1beta1(service: AdmissionService) -> None:
    answer = call(
        service, "/validate", admission_review(the_deployment(NO_PROBE), api_version="admission.k8s.io/v1beta1")
    )
    assert answer.json()["apiVersion"] == "admission.k8s.io/v1beta1"
    assert answer.json()["response"]["allowed"] is False


def test_unsynced_inventory_is_reported_not_passed(tmp_path: Path) -> None:
    svc = make_service(tmp_path, inventory_docs=[])
    svc.inventory = lambda: (build_inventory([]), frozenset({"Namespace"}))
    assert svc.reload("test")
    result = call(svc, "/validate", admission_review(the_deployment(BASELINE))).json()["response"]
    svc.close()
    assert result["allowed"] is False
    lines = result["status"]["message"].splitlines()
    assert (
        "[k8s.pdb_coverage] not judged: needs PodDisruptionBudget, HorizontalPodAutoscaler from the cluster, "
        "which are not synced (add to --sync)"
    ) in lines


def test_an_optional_inventory_kind_unsynced_is_judged_without_its_exemption(tmp_path: Path) -> None:
    # replicas_minimum reads Rollouts only to exempt the Deployment a Rollout drives: without them
    # synced a compliant Deployment is still allowed, and a one-replica one still reported (a warning:
    # replicas_minimum is medium, below the default fail_on).
    svc = make_service(tmp_path, inventory_docs=[])
    kinds = frozenset(
        {"Namespace", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy", "Service"}
        | {"ResourceQuota", "LimitRange"}
    )
    svc.inventory = lambda: (build_inventory([]), kinds)
    assert svc.reload("test")
    single = the_deployment(BASELINE)
    single["spec"]["replicas"] = 1
    answers = [
        call(svc, "/validate", admission_review(d)).json()["response"] for d in (the_deployment(BASELINE), single)
    ]
    svc.close()
    messages = ["\n".join([a.get("status", {}).get("message", ""), *a.get("warnings", [])]) for a in answers]
    assert all("not judged" not in m for m in messages)
    assert "[k8s.replicas_minimum]" not in messages[0] and "[k8s.replicas_minimum]" in messages[1]


def test_warn_findings_become_short_warnings_and_dryrun_findings_stay_silent(tmp_path: Path) -> None:
    svc = make_service(
        tmp_path,
        config="enforcement:\n  k8s.readiness_probe: warn\n  k8s.image_pinning: dryrun\n",
        store=f"sqlite:///{tmp_path / 'log.db'}",
    )
    deployment = the_deployment(NO_PROBE)
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/shop/checkout:latest"
    result = call(svc, "/validate", admission_review(deployment)).json()["response"]
    svc.close()
    assert result["allowed"] is True
    assert result["warnings"] == ['[k8s.readiness_probe] container "checkout" has no readinessProbe']
    assert all(len(w) <= 120 for w in result["warnings"])
    with open_store(f"sqlite:///{tmp_path / 'log.db'}") as store:
        [record] = list(store.records())
    assert {f["policy"]: f["enforcement"] for f in record.body["findings"]} == {
        "k8s.readiness_probe": "warn",
        "k8s.image_pinning": "dryrun",
    }


def test_long_warnings_are_cut_to_120_characters(tmp_path: Path) -> None:
    svc = make_service(tmp_path, config="enforcement:\n  k8s.readiness_probe: warn\n")
    deployment = the_deployment(NO_PROBE)
    deployment["spec"]["template"]["spec"]["containers"][0]["name"] = "a-container-name-long-enough-" * 4
    [warning] = call(svc, "/validate", admission_review(deployment)).json()["response"]["warnings"]
    svc.close()
    assert len(warning) == 120 and warning.endswith("…")
    assert warning.startswith('[k8s.readiness_probe] container "a-container-name-long-enough-')


@pytest.mark.parametrize(
    ("namespace", "user", "groups"),
    [
        ("kube-system", "alice", ()),
        ("rollguard-system", "alice", ()),
        ("shop", "system:serviceaccount:flux-system:kustomize-controller", ()),
        ("shop", "bob", ("platform-admins",)),
    ],
    ids=["kube-system", "own-namespace", "exempt-user-glob", "exempt-group"],
)
def test_exempt_requests_are_allowed_unjudged(
    tmp_path: Path, namespace: str, user: str, groups: tuple[str, ...]
) -> None:
    svc = make_service(
        tmp_path,
        config=(
            "admission:\n  exempt_namespaces: [kube-system, kube-public]\n"
            "  exempt_users: ['system:serviceaccount:flux-system:*']\n  exempt_groups: [platform-admins]\n"
        ),
    )
    review = admission_review(the_deployment(NO_PROBE), namespace=namespace, user=user, groups=groups)
    result = call(svc, "/validate", review).json()["response"]
    not_exempt = call(svc, "/validate", admission_review(the_deployment(NO_PROBE))).json()["response"]
    metrics = svc.metrics.render().decode()
    svc.close()
    assert result == {"uid": review["request"]["uid"], "allowed": True}
    assert not_exempt["allowed"] is False
    assert 'decision="exempt"' in metrics


def test_an_empty_exempt_namespace_list_exempts_none() -> None:
    from rollguard.webhook.service import DEFAULT_EXEMPT_NAMESPACES, AdmissionSettings

    empty = AdmissionSettings.from_config({"exempt_namespaces": []}, own_namespace=None)
    assert empty.exempt_namespaces == ()
    assert AdmissionSettings.from_config({}, own_namespace=None).exempt_namespaces == DEFAULT_EXEMPT_NAMESPACES
    assert AdmissionSettings.from_config({"exempt_namespaces": []}, own_namespace="rg").exempt_namespaces == ("rg",)


def test_delete_and_connect_are_allowed(service: AdmissionService) -> None:
    deployment = the_deployment(NO_PROBE)
    for operation in ("DELETE", "CONNECT"):
        review = admission_review(None, operation=operation, old=deployment)
        assert call(service, "/validate", review).json()["response"]["allowed"] is True


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"[]", "body is not a JSON object"),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview"}).encode(),
            "apiVersion 'admission.k8s.io/v2'",
        ),
        (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(), "has no request"),
        (
            json.dumps(
                {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"kind": {"kind": "Pod"}}}
            ).encode(),
            "request.uid is missing",
        ),
    ],
    ids=["not-json", "not-object", "version", "no-request", "no-uid"],
)
def test_malformed_reviews_get_400_with_a_reason(service: AdmissionService, body: bytes, reason: str) -> None:
    response = call(service, "/validate", body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    # and the next good request is still answered
    assert call(service, "/validate", admission_review(the_deployment(BASELINE))).json()["response"]["allowed"]


def test_bodies_over_3_mib_get_413(service: AdmissionService) -> None:
    deployment = the_deployment(BASELINE)
    deployment["metadata"]["annotations"] = {"filler": "x" * MAX_BODY_BYTES}
    response = call(service, "/validate", admission_review(deployment))
    assert response.status_code == 413
    assert "larger than 3145728 bytes" in response.json()["error"]


# A policy whose evaluation cannot end before the test lets it: it asks a server the test runs,
# which answers only when released. However fast or slow the machine, the deadline is missed.
HOLD = """# METADATA
# title: Waits for the test
# description: Judges the Deployment checkout only once the test's server answers.
# scope: package
# custom:
#   id: k8s.hold
#   severity: low
#   controls: ["TEST:1"]
#   remediation: none
#   applies_to: [Deployment]
#   parameters: {type: object, properties: {}}
package rollguard.k8s.hold

violation contains {"msg": "never", "details": {}} if {
	input.review.object.metadata.name == "checkout"
	http.send({"method": "GET", "url": "HOLD_URL", "timeout": "600s"}).status_code == 0
}
"""


@contextmanager
def held_answers() -> Iterator[str]:
    """The URL of a server that answers nothing until the block ends."""
    release = threading.Event()

    class Hold(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait()
            with contextlib.suppress(OSError):  # the evaluation that asked is long abandoned
                self.send_response(200)
                self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hold)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hold"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_a_missed_deadline_follows_the_failure_mode_and_is_recorded(tmp_path: Path, mode: str) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    policies = _policies_with(tmp_path, None)
    hold = policies / "rollguard" / "k8s" / "hold" / "hold.rego"
    hold.parent.mkdir(parents=True)
    with held_answers() as url:
        hold.write_text(HOLD.replace("HOLD_URL", url))
        svc = make_service(
            tmp_path,
            config=f"admission:\n  failure_mode: {mode}\n  deadline_seconds: 0.2\n",
            store=store,
            policies=policies,
        )
        try:
            result = call(svc, "/validate", admission_review(the_deployment(BASELINE))).json()["response"]
            metrics = svc.metrics.render().decode()
        finally:
            svc.close()
    reason = (
        f"rollguard could not judge Deployment shop/checkout: not judged within the 0.2 s deadline; failure mode {mode}"
    )
    if mode == "closed":
        assert result["allowed"] is False and result["status"]["message"] == reason + " denies it"
    else:
        assert result["allowed"] is True and result["warnings"] == [short_warning(reason + " allows it")]
    assert f'rollguard_admission_failures_total{{failure_mode="{mode}",reason="deadline"}} 1.0' in metrics
    with open_store(store) as opened:
        [record] = list(opened.records())
    assert record.body["admission"]["failure"] == {
        "reason": "not judged within the 0.2 s deadline",
        "failure_mode": mode,
        "allowed": mode == "open",
    }


BOOM = """# METADATA
# title: Always fails to evaluate
# description: A policy whose evaluation raises a builtin error (strict mode). Judges Deployments.
# scope: package
# custom:
#   id: k8s.boom
#   severity: low
#   controls: ["TEST:1"]
#   remediation: none
#   applies_to: [Deployment]
#   parameters: {type: object, properties: {}}
package rollguard.k8s.boom

violation contains {"msg": "never", "details": {}} if {
	to_number(input.review.object.metadata.name) > 0
}
"""


def _policies_with(tmp_path: Path, extra: str | None) -> Path:
    root = tmp_path / "policies"
    if not root.exists():
        shutil.copytree(POLICIES, root, ignore=shutil.ignore_patterns("*_test.rego"))
    target = root / "rollguard" / "k8s" / "boom" / "boom.rego"
    if extra is None:
        shutil.rmtree(target.parent, ignore_errors=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(extra)
    return root


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_an_engine_error_follows_the_failure_mode(tmp_path: Path, mode: str) -> None:
    svc = make_service(
        tmp_path, config=f"admission:\n  failure_mode: {mode}\n", policies=_policies_with(tmp_path, BOOM)
    )
    result = call(svc, "/validate", admission_review(the_deployment(BASELINE))).json()["response"]
    metrics = svc.metrics.render().decode()
    svc.close()
    assert result["allowed"] is (mode == "open")
    text = result["status"]["message"] if mode == "closed" else result["warnings"][0]
    assert text.startswith("rollguard could not judge Deployment shop/checkout: policy k8s.boom failed: ")
    assert 'rollguard_policy_errors_total{policy="k8s.boom"} 1.0' in metrics


def test_every_judged_request_is_recorded_except_dry_runs(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    svc = make_service(tmp_path, store=store)
    call(svc, "/validate", admission_review(the_deployment(NO_PROBE), uid="deny-1", user="alice"))
    call(svc, "/validate", admission_review(the_deployment(BASELINE), uid="allow-1", user="bob", groups=("ops",)))
    call(svc, "/validate", admission_review(the_deployment(NO_PROBE), uid="dry-1", dry_run=True))
    svc.close()  # flushes the recorder
    with open_store(store) as opened:
        records = list(opened.records())
        assert opened.verify().ok
    assert [(r.body["admission"]["uid"], r.verdict, r.body["actor"]) for r in records] == [
        ("deny-1", "fail", "alice"),
        ("allow-1", "pass", "bob"),
    ]
    record = records[1].body
    assert record["source"] == "admission" and record["admission"]["groups"] == ["ops"]
    assert record["resources"] == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "checkout"}
    ]
    assert [i["image"] for i in record["change"]["images"]] == [
        c["image"] for c in the_deployment(BASELINE)["spec"]["template"]["spec"]["containers"]
    ]


def test_a_full_record_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    metrics = Metrics()
    recorder = DecisionRecorder(f"sqlite:///{path}", metrics, capacity=2, batch=1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: the recorder's append waits
    svc = make_service(tmp_path, metrics=metrics, recorder=recorder)
    for n in range(8):
        call(svc, "/validate", admission_review(the_deployment(BASELINE), uid=f"u-{n}"))
    # Every request was answered while the store could not be written: admission did not wait for it.
    assert metrics.records_written._value.get() == 0
    dropped = metrics.records_dropped._value.get()
    assert dropped >= 5
    blocker.execute("ROLLBACK")
    blocker.close()
    svc.close()
    with open_store(f"sqlite:///{path}") as opened:
        written = len(list(opened.records()))
        assert opened.verify().ok
    assert written + dropped == 8
    assert f"rollguard_decision_records_dropped_total {dropped}" in metrics.render().decode()


def test_reload_keeps_the_old_bundle_when_the_new_one_does_not_compile(tmp_path: Path) -> None:
    policies = _policies_with(tmp_path, None)
    svc = make_service(tmp_path, policies=policies)
    old = svc.runtime.digest if svc.runtime else ""
    _policies_with(tmp_path, BOOM.replace("violation contains", "violation contains contains"))
    assert svc.reload("test: broken") is False
    assert svc.runtime is not None and svc.runtime.digest == old
    assert call(svc, "/validate", admission_review(the_deployment(NO_PROBE))).json()["response"]["allowed"] is False
    _policies_with(tmp_path, BOOM.replace("to_number(input.review.object.metadata.name) > 0", "false"))
    assert svc.reload("test: fixed") is True
    assert svc.runtime.digest != old
    metrics = svc.metrics.render().decode()
    svc.close()
    assert 'rollguard_policy_reloads_total{result="failed"} 1.0' in metrics
    assert 'rollguard_policy_reloads_total{result="ok"} 1.0' in metrics
    # The shipped Kubernetes policies and the fixed one.
    k8s = sum(1 for info in load_bundle(POLICIES).policies if info.domain == "k8s")
    assert f'digest="{svc.runtime.digest}"' in metrics and f'policies="{k8s + 1}"' in metrics


def test_health_readiness_and_metrics(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    assert call(svc, "/healthz", None, method="GET").text == "ok"
    assert call(svc, "/readyz", None, method="GET").status_code == 200
    svc.inventory_ready = lambda: False  # e.g. the first --sync list has not finished
    not_ready = call(svc, "/readyz", None, method="GET")
    assert not_ready.status_code == 503 and "inventory" in not_ready.text
    call(svc, "/validate", admission_review(the_deployment(NO_PROBE)))
    response = call(svc, "/metrics", None, method="GET")
    svc.close()
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert (
        'rollguard_admission_requests_total{decision="denied",endpoint="validate",kind="Deployment",operation="CREATE"} 1.0'
        in text
    )
    assert 'rollguard_admission_duration_seconds_count{endpoint="validate"} 1.0' in text
    assert 'rollguard_policy_bundle_info{digest="sha256:' in text


def test_an_unloaded_service_is_not_ready(tmp_path: Path) -> None:
    svc = AdmissionService(
        PolicySource(policies=PolicySources(base=POLICIES), config_path=None, environment=None, engine="opa"),
        metrics=Metrics(),
    )
    assert call(svc, "/readyz", None, method="GET").status_code == 503


def test_admission_review_builder_matches_the_cli_review_shape() -> None:
    """The request fields policies read are the ones `rollguard check` fills in (gate.review_for)."""
    from rollguard.contract import review_for

    change = load_change_set([str(NO_PROBE)])
    cli = review_for(change.artifacts[0])
    request = admission_review(copy.deepcopy(the_deployment(NO_PROBE)))["request"]
    for key in ("object", "operation", "kind", "namespace", "name"):
        assert request[key] == cli[key], key


def test_mutate_answers_with_a_json_patch_that_the_validation_then_accepts(tmp_path: Path) -> None:
    import base64

    import jsonpatch

    svc = make_service(
        tmp_path,
        config=(
            "admission:\n  mutations:\n    version_label: true\n    prestop_sleep: {enabled: true, seconds: 5}\n"
            "    revision_history_limit: 5\n    progress_deadline_seconds: 600\n"
        ),
    )
    deployment = the_deployment(BASELINE)
    pod = deployment["spec"]["template"]
    del pod["metadata"]["labels"]["app.kubernetes.io/version"]
    del deployment["spec"]["revisionHistoryLimit"]
    del deployment["spec"]["progressDeadlineSeconds"]
    for container in pod["spec"]["containers"]:
        container.pop("lifecycle", None)
    before = call(svc, "/validate", admission_review(deployment)).json()["response"]
    lines = before["status"]["message"].splitlines()[1:] if "status" in before else []
    flagged = {line.split("]")[0][1:] for line in lines + before.get("warnings", [])}
    # An unset progressDeadlineSeconds is the API's 600 s, which k8s.progress_deadline accepts.
    assert {"k8s.version_label", "k8s.graceful_shutdown"} <= flagged

    answer = call(svc, "/mutate", admission_review(deployment)).json()["response"]
    assert answer["allowed"] is True and answer["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(answer["patch"]))
    assert {op["op"] for op in patch} <= {"add", "replace"}
    mutated = jsonpatch.apply_patch(deployment, patch)
    assert mutated["spec"]["revisionHistoryLimit"] == 5 and mutated["spec"]["progressDeadlineSeconds"] == 600
    after = call(svc, "/validate", admission_review(mutated)).json()["response"]
    svc.close()
    assert after == {"uid": "3f1c8a52-0d6e-4d7e-9c61-2f5b9a0e7d11", "allowed": True}


def test_mutate_leaves_deletes_and_disabled_mutations_alone(service: AdmissionService) -> None:
    deployment = the_deployment(NO_PROBE)
    plain = call(service, "/mutate", admission_review(deployment)).json()["response"]
    assert plain == {"uid": "3f1c8a52-0d6e-4d7e-9c61-2f5b9a0e7d11", "allowed": True}  # nothing enabled
    deleted = call(service, "/mutate", admission_review(None, operation="DELETE", old=deployment)).json()["response"]
    assert deleted == {"uid": "3f1c8a52-0d6e-4d7e-9c61-2f5b9a0e7d11", "allowed": True}


def test_regorus_runtimes_are_judged_and_released_on_their_own_thread(tmp_path: Path) -> None:
    """regorus engines are bound to the thread that made them: a reload and a close must not
    drop one anywhere else (the process would abort)."""
    import gc
    import subprocess
    import sys

    script = f"""
import asyncio, gc, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from tests.webhook.test_app import make_service, admission_review, the_deployment, NO_PROBE
from pathlib import Path
svc = make_service(Path({str(tmp_path)!r}), engine="regorus", store="sqlite:///{tmp_path / "log.db"}")
request = admission_review(the_deployment(NO_PROBE))["request"]
first = asyncio.run(svc.validate("admission.k8s.io/v1", request))
assert svc.reload("test")
second = asyncio.run(svc.validate("admission.k8s.io/v1", request))
svc.close()
gc.collect()
print(first.decision, second.decision)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    gc.collect()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["denied", "denied"]
    assert "unsendable" not in proc.stderr


def _review_body(mutate: Any = None) -> bytes:
    review = admission_review(the_deployment(BASELINE))
    if mutate is not None:
        mutate(review)
    return json.dumps(review).encode()


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            _review_body().replace(b'"labels": {', b'"labels": {"deep": ' + _nested(975).encode() + b", ", 1),
            "body is nested too deeply to be an AdmissionReview",
        ),
        (
            _review_body(lambda r: r["request"].update(userInfo="alice")),
            "request.userInfo is a string, not an object",
        ),
        (_review_body(lambda r: r["request"].update(namespace=5)), "request.namespace is a number, not a string"),
        (
            _review_body(lambda r: r["request"]["object"].update(metadata=["checkout"])),
            "request.object.metadata is an array, not an object",
        ),
        (
            _review_body().replace(b'"replicas": 3', b'"replicas": ' + b"9" * 5000),
            "body is not JSON: integer 999999999999999999999999... has more than 20 digits",
        ),
        (
            _review_body().replace(b'"replicas": 3', b'"replicas": 100000000000000000000000'),
            "has more than 20 digits",
        ),
        (_review_body().replace(b'"replicas": 3', b'"replicas": NaN'), "body is not JSON: NaN is not a JSON number"),
        (
            _review_body().replace(b'"replicas": 3', b'"replicas": 1e999'),
            "body is not JSON: number 1e999 is out of range",
        ),
        (
            _review_body().replace(b'"name": "checkout"', b'"name": "\\ud800checkout"', 1),
            "unpaired UTF-16 surrogate",
        ),
        (
            _review_body(lambda r: r["request"]["userInfo"].update(groups=["ok", 7])),
            "request.userInfo.groups holds something other than strings",
        ),
        (
            _review_body(lambda r: r["request"]["kind"].pop("group")),
            "request.kind.group is missing or not a string",
        ),
        (
            _review_body(lambda r: r["request"]["object"]["metadata"]["labels"].update(tier=1)),
            "request.object.metadata.labels is not an object of strings",
        ),
        (_review_body(lambda r: r["request"].update(dryRun="yes")), "request.dryRun is a string, not a boolean"),
        (b"\xff\xfe{", "body is not JSON"),
    ],
    ids=[
        "nested-975",
        "userinfo-string",
        "namespace-number",
        "metadata-list",
        "integer-5000-digits",
        "integer-beyond-64-bits",
        "nan",
        "infinite-float",
        "lone-surrogate",
        "group-not-string",
        "kind-without-group",
        "label-not-string",
        "dryrun-string",
        "not-utf8",
    ],
)
def test_bodies_that_once_got_http_500_are_refused_with_a_reason(
    service: AdmissionService, body: bytes, reason: str
) -> None:
    for endpoint in ("/validate", "/mutate"):
        response = call(service, endpoint, body)
        assert response.status_code == 400, response.text
        assert reason in response.json()["error"]


def many_containers(count: int) -> dict[str, Any]:
    """The Deployment of the issue: valid, 2.9 MB as a review at 100,000 containers."""
    deployment = the_deployment(BASELINE)
    deployment["spec"]["template"]["spec"]["containers"] = [{"name": f"c{i}", "image": "x"} for i in range(count)]
    return deployment


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_an_object_over_a_structural_limit_is_answered_by_the_failure_mode_naming_the_limit(
    tmp_path: Path, mode: str
) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    svc = make_service(tmp_path, config=f"admission:\n  failure_mode: {mode}\n", store=store)
    body = json.dumps(admission_review(many_containers(100_000)), separators=(",", ":")).encode()
    assert 2_900_000 < len(body) < MAX_BODY_BYTES
    [pid] = svc.runtime.pool.pids()["idle"]  # type: ignore[union-attr]
    result = call(svc, "/validate", body).json()["response"]
    metrics = svc.metrics.render().decode()
    assert svc.runtime.pool.pids()["idle"] == (pid,)  # never sent to a worker  # type: ignore[union-attr]
    svc.close()
    reason = "admission.limits.max_containers (250) exceeded: request.object.spec.template.spec has 100000 containers"
    message = f"rollguard could not judge Deployment shop/checkout: {reason}; failure mode {mode}"
    if mode == "closed":
        assert result["allowed"] is False and result["status"]["message"] == message + " denies it"
    else:
        [warning] = result["warnings"]
        assert result["allowed"] is True and warning == short_warning(message + " allows it")
        assert "admission.limits.max_containers (250) exceeded" in warning  # the limit survives the cut
    assert f'rollguard_admission_failures_total{{failure_mode="{mode}",reason="limit"}} 1.0' in metrics
    with open_store(store) as opened:
        [record] = list(opened.records())
    assert record.body["admission"]["failure"] == {"reason": reason, "failure_mode": mode, "allowed": mode == "open"}


def test_structural_limits_come_from_the_config(tmp_path: Path) -> None:
    svc = make_service(tmp_path, config="admission:\n  limits:\n    max_containers: 2\n")
    three = call(svc, "/validate", admission_review(many_containers(3))).json()["response"]
    one = call(svc, "/validate", admission_review(the_deployment(BASELINE))).json()["response"]
    svc.close()
    assert "admission.limits.max_containers (2) exceeded" in three["status"]["message"]
    assert one == {"uid": "3f1c8a52-0d6e-4d7e-9c61-2f5b9a0e7d11", "allowed": True}


def test_mutate_leaves_an_object_over_a_limit_alone_with_a_warning(tmp_path: Path) -> None:
    svc = make_service(tmp_path, config="admission:\n  mutations:\n    revision_history_limit: 5\n")
    answer = call(svc, "/mutate", admission_review(many_containers(300))).json()["response"]
    svc.close()
    assert answer["allowed"] is True and "patch" not in answer
    assert answer["warnings"] == [
        short_warning(
            "rollguard did not mutate Deployment shop/checkout: admission.limits.max_containers (250) exceeded: "
            "request.object.spec.template.spec has 300 containers"
        )
    ]


@pytest.mark.parametrize("endpoint", ["/validate", "/mutate"])
def test_an_unexpected_error_is_answered_by_the_failure_mode_not_http_500(
    service: AdmissionService, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    async def broken(self: AdmissionService, api_version: str, request: Any, size: int = 0) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(AdmissionService, endpoint.strip("/"), broken)
    response = call(service, endpoint, admission_review(the_deployment(BASELINE)))
    assert response.status_code == 200
    result = response.json()["response"]
    assert result["allowed"] is False
    assert result["status"]["message"] == (
        "rollguard could not judge Deployment shop/checkout: internal error (ZeroDivisionError); "
        "see the webhook's log; failure mode closed denies it"
    )


def test_request_bodies_held_at_once_are_bounded() -> None:
    from rollguard.webhook.app import BodyBudget

    async def scenario() -> None:
        budget = BodyBudget(limit=100)
        assert await budget.take(60, wait=0)
        assert await budget.take(40, wait=0)
        assert not await budget.take(1, wait=0)  # full: a third request waits, then gets 503
        budget.give(60)
        assert await budget.take(50, wait=0)
        budget.give(40)
        budget.give(50)
        assert await budget.take(1000, wait=0)  # one request alone is always let in (the body limit bounds it)

    asyncio.run(scenario())


def test_metric_labels_name_only_kinds_the_policies_judge(service: AdmissionService) -> None:
    review = admission_review(the_deployment(BASELINE))
    review["request"]["kind"]["kind"] = "Anything-" + "x" * 50
    call(service, "/validate", review)
    text = service.metrics.render().decode()
    assert 'kind="other"' in text and "Anything-" not in text
