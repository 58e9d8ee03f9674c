"""The decision cache: a cached answer is the answer the policies give, for every fixture; and what empties it.

Requests go through the real ASGI app and the real OPA engine in evaluation workers; the cache
itself (keys, the bound, the per-entry proof) is also exercised directly.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollguard.audit.store import open_store
from rollguard.contract import build_inventory
from rollguard.model import Decision, Finding, Resource, Severity
from rollguard.policy.config import Config, Waiver
from rollguard.webhook.cache import DecisionCache, request_key, volatile_fields
from rollguard.webhook.metrics import Metrics
from rollguard.webhook.service import AdmissionService

from ..conftest import FIXTURES
from .test_app import BASELINE, NO_PROBE, admission_review, call, documents, make_service, the_deployment

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
RUNTIME = ("sha256:bundle", "sha256:config", 1)


def kubernetes_documents() -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object in fixtures/**, with an id naming its file and position."""
    found = []
    for path in sorted(FIXTURES.rglob("*.y*ml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue  # a fixture of broken YAML: not an object the API server would send
        for n, doc in enumerate(docs):
            meta = doc.get("metadata") if isinstance(doc, dict) else None
            if (
                isinstance(meta, dict)
                and isinstance(meta.get("name"), str)
                and isinstance(doc.get("kind"), str)
                and isinstance(doc.get("apiVersion"), str)
            ):
                found.append((f"{path.relative_to(FIXTURES).as_posix()}#{n}", doc))
    return found


DOCUMENTS = kubernetes_documents()


def review(doc: dict[str, Any], uid: str) -> dict[str, Any]:
    body = admission_review(json.loads(json.dumps(doc, default=str)), uid=uid)
    if not body["request"]["namespace"] or doc["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
        body["request"].pop("namespace", None)
    return body


def lookups(service: AdmissionService) -> dict[str, float]:
    text = call(service, "/metrics", None, method="GET").text
    return {
        m[0]: float(m[1]) for m in re.findall(r'rollguard_decision_cache_lookups_total\{result="(\w+)"\} (\S+)', text)
    }


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdmissionService]:
    svc = make_service(tmp_path_factory.mktemp("cache"), evaluators=2)
    yield svc
    svc.close()


def test_the_fixtures_hold_many_kubernetes_objects() -> None:
    kinds = {doc["kind"] for _, doc in DOCUMENTS}
    assert len(DOCUMENTS) > 100 and {"Deployment", "StatefulSet", "Service", "Rollout"} <= kinds


def test_cached_answers_are_the_judged_answers_for_every_fixture(service: AdmissionService) -> None:
    """Cold, then warm with the same uid, then warm with another: the whole AdmissionReview each time."""
    service.cache.clear()
    differences = []
    for n, (where, doc) in enumerate(DOCUMENTS):
        before = lookups(service).get("hit", 0.0) if n == 0 else None
        cold = call(service, "/validate", review(doc, f"cold-{n}"))
        warm = call(service, "/validate", review(doc, f"cold-{n}"))
        other = call(service, "/validate", review(doc, f"other-{n}"))
        assert cold.status_code == warm.status_code == other.status_code == 200, where
        expected_other = copy.deepcopy(cold.json())
        expected_other["response"]["uid"] = f"other-{n}"
        if warm.json() != cold.json() or other.json() != expected_other:
            differences.append(where)
        if before is not None:  # the first object: prove the warm answers came from the cache
            assert lookups(service)["hit"] == before + 2
    assert differences == []
    # Exempt namespaces and DELETE are answered before the cache; every other object hit twice.
    assert lookups(service)["hit"] >= 2 * len(DOCUMENTS) * 0.9


def pod(name: str, *, uid: str, created: str) -> dict[str, Any]:
    """A pod of ReplicaSet checkout-7d4b9c as a validating webhook sees it: name generated, uid and time stamped."""
    template = the_deployment(NO_PROBE)["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template["metadata"],
            "name": name,
            "generateName": "checkout-7d4b9c-",
            "namespace": "shop",
            "uid": uid,
            "creationTimestamp": created,
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "time": created}],
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "checkout-7d4b9c", "uid": "rs"}
            ],
        },
        "spec": template["spec"],
    }


def test_pods_of_one_template_are_judged_once_proven_and_each_named_in_its_answer(tmp_path: Path) -> None:
    cached = make_service(tmp_path / "cached")
    uncached = make_service(tmp_path / "uncached")
    uncached.cache.size = 0
    try:
        names = ["checkout-7d4b9c-x2k4q", "checkout-7d4b9c-b9wzz", "checkout-7d4b9c-mnp25", "checkout-7d4b9c-44rtd"]
        for n, name in enumerate(names):
            body = review(pod(name, uid=f"pod-uid-{n}", created=f"2026-11-26T12:00:0{n}Z"), f"req-{n}")
            answer = call(cached, "/validate", body).json()
            assert answer == call(uncached, "/validate", body).json()
            assert answer["response"]["uid"] == f"req-{n}"
            assert f"Pod shop/{name}" in answer["response"]["status"]["message"]
            assert not any(other in json.dumps(answer) for other in names if other != name)
        # The first pod judged, the second judged again to prove the entry, the others from the cache.
        assert lookups(cached) == {"miss": 2.0, "hit": 2.0}
        text = call(cached, "/metrics", None, method="GET").text
        assert 'rollguard_decision_cache_proofs_total{result="same"} 1.0' in text
        assert "rollguard_decision_cache_entries 1.0" in text
    finally:
        cached.close()
        uncached.close()


def test_a_cached_decision_is_recorded_as_its_own_decision(tmp_path: Path) -> None:
    store = tmp_path / "log.db"
    svc = make_service(tmp_path, store=f"sqlite:///{store}")
    try:
        for uid in ("first", "second", "third"):
            call(svc, "/validate", review(the_deployment(NO_PROBE), uid))
        assert lookups(svc) == {"miss": 1.0, "hit": 2.0}
    finally:
        svc.close()  # writes what is queued
    with open_store(f"sqlite:///{store}") as opened:
        bodies = [r.body for r in opened.records()]
        assert opened.verify().ok
    assert [b["admission"]["uid"] for b in bodies] == ["first", "second", "third"]
    assert len({b["time"] for b in bodies}) == 3  # each at its own time
    assert [b["verdict"] for b in bodies] == ["fail"] * 3
    assert bodies[1]["findings"] == bodies[2]["findings"] == bodies[0]["findings"] != []


def test_a_reload_empties_the_cache_and_answers_with_the_new_runtime(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    try:
        body = review(the_deployment(BASELINE), "one")
        assert call(svc, "/validate", body).json()["response"]["allowed"] is True
        assert len(svc.cache) == 1
        assert svc.reload("test")
        assert len(svc.cache) == 0
        call(svc, "/validate", body)
        assert lookups(svc) == {"miss": 2.0}
    finally:
        svc.close()


def test_an_inventory_change_is_never_answered_from_the_old_inventory(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    try:
        body = review(the_deployment(BASELINE), "one")
        assert call(svc, "/validate", body).json()["response"] == {"uid": "one", "allowed": True}
        # The PodDisruptionBudget and the autoscaler are gone from the cluster: the same request is now denied.
        left = [d for d in documents(BASELINE) if d["kind"] not in ("PodDisruptionBudget", "HorizontalPodAutoscaler")]
        inventory = build_inventory(d for d in left if d["kind"] != "Deployment")
        svc.inventory = lambda: (inventory, frozenset({"Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}))
        assert svc.reload("inventory changed")
        result = call(svc, "/validate", body).json()["response"]
        assert result["allowed"] is False
        assert "[k8s.pdb_coverage]" in result["status"]["message"]
        assert lookups(svc) == {"miss": 2.0}
    finally:
        svc.close()


def test_the_cache_can_be_turned_off(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    svc.cache.size = 0
    try:
        for uid in ("a", "b"):
            call(svc, "/validate", review(the_deployment(NO_PROBE), uid))
        assert lookups(svc) == {} and len(svc.cache) == 0
    finally:
        svc.close()


# -- the cache itself ------------------------------------------------------------------------


def decision(message: str) -> Decision:
    resource = Resource(api_version="v1", kind="Pod", namespace="shop", name=message.split()[0])
    finding = Finding(
        policy="k8s.p",
        title="t",
        severity=Severity.HIGH,
        message=message,
        resource=resource,
        file=None,
        line=None,
        details={"pod": message.split()[0], "n": 1},
    )
    return Decision(findings=(finding,), problems=(), fail_on=Severity.HIGH, engine="opa", resources=1, policies=1)


def key_of(request: dict[str, Any], **kwargs: Any) -> Any:
    kwargs.setdefault("settings", Config().resolve(None))
    return request_key(request, runtime=RUNTIME, now=NOW, **kwargs)


def pod_request(name: str, uid: str = "u") -> dict[str, Any]:
    return review(pod(name, uid=f"pod-{name}", created="2026-11-26T12:00:00Z"), uid)["request"]


def test_the_key_leaves_out_the_uid_and_what_the_api_server_stamps_but_nothing_else() -> None:
    base = pod_request("checkout-7d4b9c-x2k4q", "one")
    assert key_of(base).digest == key_of(pod_request("checkout-7d4b9c-b9wzz", "two")).digest
    assert key_of(base).variant != key_of(pod_request("checkout-7d4b9c-b9wzz", "two")).variant
    for change in (
        lambda r: r.update(dryRun=True),
        lambda r: r.update(operation="UPDATE"),
        lambda r: r.update(namespace="other"),
        lambda r: r["userInfo"].update(username="bob"),
        lambda r: r["object"]["metadata"]["labels"].update(extra="1"),
        lambda r: r["object"]["spec"]["containers"][0].update(image="other:1"),
        lambda r: r["object"]["metadata"].update(name="checkout-7d4b9c-TOOLONG"),  # not a generated suffix
    ):
        changed = copy.deepcopy(base)
        change(changed)
        assert key_of(changed).digest != key_of(base).digest
    # Runtime identity: bundle, config and inventory generation.
    assert request_key(base, runtime=(*RUNTIME[:2], 2), settings=Config().resolve(None), now=NOW) != key_of(base)


def test_a_field_some_policy_names_stays_in_the_key() -> None:
    assert volatile_fields({"p.rego": "x := input.review.object.metadata.creationTimestamp"}) == (
        "uid",
        "resourceVersion",
        "managedFields",
    )
    assert "uid" in volatile_fields({"m.rego": "default x := gen_random_uuid"})  # a word, not a substring
    base = pod_request("checkout-7d4b9c-x2k4q")
    later = pod_request("checkout-7d4b9c-x2k4q")
    later["object"]["metadata"]["creationTimestamp"] = "2026-11-26T13:00:00Z"
    kept = ("uid", "resourceVersion", "managedFields")
    assert key_of(base, volatile=kept).digest != key_of(later, volatile=kept).digest
    assert key_of(base).digest == key_of(later).digest


def test_the_key_changes_when_a_waiver_expires() -> None:
    waiver = Waiver(
        id="w1", policy="k8s.readiness_probe", reason="migration", owner="team", expires=dt.date(2026, 11, 30)
    )
    settings = dataclasses.replace(Config().resolve(None), waivers=(waiver,))
    request = pod_request("checkout-7d4b9c-x2k4q")
    before = request_key(request, runtime=RUNTIME, settings=settings, now=NOW)
    same_day = request_key(request, runtime=RUNTIME, settings=settings, now=NOW + dt.timedelta(days=4))
    after = request_key(request, runtime=RUNTIME, settings=settings, now=NOW + dt.timedelta(days=5))
    assert before is not None and same_day is not None and after is not None
    assert before.digest == same_day.digest != after.digest


def test_a_request_the_canonical_encoding_refuses_is_not_keyed() -> None:
    request = pod_request("checkout-7d4b9c-x2k4q")
    request["object"]["spec"]["replicas"] = 2**70
    assert key_of(request) is None


def test_an_entry_serves_other_names_only_once_proven() -> None:
    cache = DecisionCache(10)
    first, second, third = (
        key_of(pod_request(n)) for n in ("checkout-7d4b9c-x2k4q", "checkout-7d4b9c-b9wzz", "checkout-7d4b9c-mnp25")
    )
    cache.put(first, decision("checkout-7d4b9c-x2k4q has no probe"))
    assert cache.get(first).decision == decision("checkout-7d4b9c-x2k4q has no probe")
    lookup = cache.get(second)
    assert lookup.decision is None and lookup.verify
    assert lookup.expected == decision("checkout-7d4b9c-b9wzz has no probe")  # message, resource and details renamed
    cache.proven(second, same=True)
    assert cache.get(third).decision == decision("checkout-7d4b9c-mnp25 has no probe")


def test_an_entry_disproven_answers_only_the_variant_it_was_judged_for() -> None:
    cache = DecisionCache(10)
    first, second = (key_of(pod_request(n)) for n in ("checkout-7d4b9c-x2k4q", "checkout-7d4b9c-b9wzz"))
    cache.put(first, decision("checkout-7d4b9c-x2k4q has no probe"))
    cache.proven(second, same=False)
    assert cache.get(second).decision is None and not cache.get(second).verify
    assert cache.get(first).decision == decision("checkout-7d4b9c-x2k4q has no probe")


def test_the_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    metrics = Metrics()
    cache = DecisionCache(2, metrics)
    keys = [
        key_of(admission_review(the_deployment(BASELINE), uid="u")["request"] | {"name": f"n{i}"}) for i in range(3)
    ]
    cache.put(keys[0], decision("a x"))
    cache.put(keys[1], decision("b x"))
    assert cache.get(keys[0]).decision == decision("a x")  # now the most recently used
    cache.put(keys[2], decision("c x"))
    assert len(cache) == 2
    assert cache.get(keys[1]).decision is None
    assert cache.get(keys[0]).decision == decision("a x") and cache.get(keys[2]).decision == decision("c x")
    text = metrics.render().decode()
    assert "rollguard_decision_cache_entries 2.0" in text
    assert 'rollguard_decision_cache_lookups_total{result="hit"} 3.0' in text
    assert 'rollguard_decision_cache_lookups_total{result="miss"} 1.0' in text


def test_renaming_reaches_every_string_of_a_decision() -> None:
    from rollguard.webhook.cache import renamed

    original = decision("web-x2k4q lacks web-x2k4q's probe")
    result = renamed(original, "web-x2k4q", "web-b9wzz")
    assert result.findings[0].message == "web-b9wzz lacks web-b9wzz's probe"
    assert result.findings[0].resource.name == "web-b9wzz" and result.findings[0].details == {
        "pod": "web-b9wzz",
        "n": 1,
    }
    assert dataclasses.replace(result, findings=original.findings) == original  # nothing else changed
