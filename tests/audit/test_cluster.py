"""`rollguard audit cluster` end to end through the official Kubernetes client.

A small HTTP server on 127.0.0.1 stands in for the API server: it answers discovery, pages
lists with `limit` and `continue` in storage-key order, and can expire a continue token once.
"""

from __future__ import annotations

import base64
import bisect
import copy
import gc
import itertools
import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.contract import CLUSTER_SCOPED_KINDS
from rollguard.formats.policyreport import OUTCOMES
from rollguard.policy.bundle import load_bundle

from ..conftest import FIXTURES, POLICIES

# group, version, plural, kind, namespaced; the first version of a group is its preferred one.
API_RESOURCES = (
    ("", "v1", "pods", "Pod", True),
    ("", "v1", "services", "Service", True),
    ("", "v1", "namespaces", "Namespace", False),
    ("", "v1", "replicationcontrollers", "ReplicationController", True),
    ("apps", "v1", "deployments", "Deployment", True),
    ("apps", "v1", "statefulsets", "StatefulSet", True),
    ("apps", "v1", "daemonsets", "DaemonSet", True),
    ("apps", "v1", "replicasets", "ReplicaSet", True),
    ("batch", "v1", "jobs", "Job", True),
    ("batch", "v1", "cronjobs", "CronJob", True),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
    ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True),
    ("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ("argoproj.io", "v1alpha1", "rollouts", "Rollout", True),
    ("argoproj.io", "v1alpha1", "analysistemplates", "AnalysisTemplate", True),
    ("argoproj.io", "v1alpha1", "clusteranalysistemplates", "ClusterAnalysisTemplate", False),
)
_BY_KIND = {kind: (group, plural, namespaced) for group, _, plural, kind, namespaced in API_RESOURCES}


def storage_key(obj: Mapping[str, Any]) -> str:
    """`namespace/name` (or `name`): the order in which the API server lists objects."""
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


class FakeApiServer:
    """Answers like kube-apiserver for a fixed set of objects: discovery, paged lists and GETs.

    `expire` maps a plural to the number of the continue request to answer with 410 Gone,
    once; `reverse` lists in descending key order, as no real server does.
    """

    def __init__(
        self,
        objects: Iterable[Mapping[str, Any]] = (),
        *,
        expire: Mapping[str, int] | None = None,
        reverse: bool = False,
    ) -> None:
        self.store: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        for obj in objects:
            self.add(obj)
        self.expire = dict(expire or {})
        self.reverse = reverse
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.expired: list[str] = []
        self._continues: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def add(self, obj: Mapping[str, Any]) -> None:
        """Store one object (with apiVersion and kind) where the lists will find it."""
        group, plural, _ = _BY_KIND[obj["kind"]]
        items = self.store.setdefault((group, plural), [])
        bisect.insort(items, (storage_key(obj), copy.deepcopy(dict(obj))), key=lambda item: item[0])

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def continue_requests(self, plural: str) -> list[dict[str, str]]:
        """The queries of list requests for `plural` that carried a continue token."""
        return [q for path, q in self.requests if path.endswith(f"/{plural}") and "continue" in q]

    # --- answers --------------------------------------------------------------------------

    def answer(self, path: str, query: Mapping[str, str]) -> tuple[int, Any]:
        """Status code and JSON body for a GET of `path`."""
        if path == "/version":
            return 200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            return 200, _group_list()
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return _status(404, "NotFound", f"the server could not find the requested resource ({path})")
        if not rest:
            return 200, _resource_list(group, version)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
        served = [r for r in API_RESOURCES if r[0] == group and r[1] == version and r[2] == plural]
        if not served:
            return _status(404, "NotFound", f"the server could not find the requested resource ({path})")
        kind = served[0][3]
        api_version = f"{group}/{version}" if group else version
        items = [
            obj
            for _, obj in self.store.get((group, plural), [])
            if namespace is None or obj["metadata"].get("namespace") == namespace
        ]
        if name is not None:
            for obj in items:
                if obj["metadata"]["name"] == name:
                    return 200, {**copy.deepcopy(obj), "apiVersion": api_version, "kind": kind}
            return _status(404, "NotFound", f'{plural} "{name}" not found')
        return self._list(plural, kind, api_version, items, query)

    def _list(
        self, plural: str, kind: str, api_version: str, items: list[dict[str, Any]], query: Mapping[str, str]
    ) -> tuple[int, Any]:
        ordered = sorted(items, key=storage_key, reverse=self.reverse)
        start = 0
        if query.get("continue"):
            with self._lock:
                count = self._continues[plural] = self._continues.get(plural, 0) + 1
                expire = self.expire.get(plural) == count
                if expire:
                    del self.expire[plural]
                    self.expired.append(plural)
            if expire:
                return _status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result.",
                )
            after = json.loads(base64.b64decode(query["continue"]))["start"]
            start = next((i for i, o in enumerate(ordered) if storage_key(o) == after), len(ordered) - 1) + 1
        limit = int(query.get("limit") or 0) or len(ordered)
        page = ordered[start : start + limit]
        metadata: dict[str, Any] = {"resourceVersion": "4242"}
        if start + limit < len(ordered):
            token = json.dumps({"start": storage_key(page[-1]), "rv": 4242}).encode()
            metadata["continue"] = base64.b64encode(token).decode()
            metadata["remainingItemCount"] = len(ordered) - start - limit
        # Like the real server: the items of a list carry no apiVersion or kind.
        body = [{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")} for obj in page]
        return 200, {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata, "items": body}

    def kubeconfig(self, path: Path, *, context: str = "fake", namespace: str = "default") -> Path:
        """Write a kubeconfig whose only context points at this server."""
        return write_kubeconfig(path, self.url, context=context, namespace=namespace)


def write_kubeconfig(path: Path, server: str, *, context: str = "fake", namespace: str = "default") -> Path:
    """A kubeconfig with one cluster, one token user and one context, current."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "auditor", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": context, "context": {"cluster": "fake", "user": "auditor", "namespace": namespace}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _group_list() -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for group, version, *_ in API_RESOURCES:
        if group and version not in groups.setdefault(group, []):
            groups[group].append(version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
            }
            for group, versions in groups.items()
        ],
    }


def _resource_list(group: str, version: str) -> dict[str, Any]:
    resources = []
    for g, v, plural, kind, namespaced in API_RESOURCES:
        if (g, v) != (group, version):
            continue
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        resources.append(
            {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind, "verbs": verbs}
        )
        resources.append(
            {
                "name": f"{plural}/status",
                "singularName": "",
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _handler(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(split.query))
            with server._lock:
                server.requests.append((split.path, query))
            code, body = server.answer(split.path, query)
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test output stays readable

    return Handler


# --- the cluster the tests audit --------------------------------------------------------------

DEMO = FIXTURES / "demo"
HIGH_RISK = {"rollguard.io/risk": "high"}


def manifests(path: Path) -> list[dict[str, Any]]:
    """The documents of a fixture file that the fake API server serves."""
    docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    return [d for d in docs if isinstance(d, dict) and d.get("kind") in _BY_KIND]


def moved(doc: Mapping[str, Any], namespace: str, name: str | None = None) -> dict[str, Any]:
    """A copy of `doc` in another namespace (and under another name)."""
    out = copy.deepcopy(dict(doc))
    out["metadata"]["namespace"] = namespace
    if name is not None:
        out["metadata"]["name"] = name
    return out


_serial = itertools.count(1)


def live(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` as the API server returns it: with uid, versions, managed fields and status."""
    out = copy.deepcopy(dict(doc))
    n = next(_serial)
    meta = out["metadata"]
    meta.update(
        uid=f"00000000-0000-4000-8000-{n:012d}",
        resourceVersion=str(1000 + n),
        generation=1,
        creationTimestamp="2026-11-01T09:00:00Z",
        managedFields=[
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": out["apiVersion"]}
        ],
    )
    if out["kind"] in ("Deployment", "StatefulSet", "ReplicaSet"):
        out["status"] = {"observedGeneration": 1, "replicas": (out.get("spec") or {}).get("replicas", 1)}
    return out


def namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Namespace object."""
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def owned_replicaset(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The ReplicaSet a Deployment's controller made: the same pod template, owned by it."""
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deployment['metadata']['name']}-6d4b9c7f8",
            "namespace": deployment["metadata"]["namespace"],
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deployment["metadata"]["name"],
                    "uid": deployment["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": copy.deepcopy(
            {k: v for k, v in deployment["spec"].items() if k in ("replicas", "selector", "template")}
        ),
    }
    return live(rs)


def cluster_objects() -> list[dict[str, Any]]:
    """Three namespaces (one high-risk), cross-object findings, an owned ReplicaSet, RBAC."""
    objects = [namespace("shop", HIGH_RISK), namespace("payments"), namespace("blog")]
    shop = [live(d) for d in manifests(DEMO / "storefront.yaml")]
    objects += shop
    objects.append(owned_replicaset(next(d for d in shop if d["kind"] == "Deployment")))
    # Services pinning sessions in front of a Deployment: found only through the inventory. One
    # is waived by its annotation, which must not waive the other one of the same batch.
    payments = [
        live(moved(d, "payments")) for d in manifests(FIXTURES / "k8s/session_affinity/disallowed_client_ip.yaml")
    ]
    service = next(d for d in payments if d["kind"] == "Service")
    canary = copy.deepcopy(service)
    canary["metadata"].update(name="checkout-canary", uid=service["metadata"]["uid"] + "-canary")
    service["metadata"]["annotations"] = {"rollguard.io/waive.k8s.session_affinity": "W-AFFINITY"}
    objects += [*payments, canary]
    blog = manifests(FIXTURES / "k8s/readiness_probe/allowed_deployment.yaml")
    for d in blog:
        if d["kind"] == "Deployment":
            objects += [live(moved(d, "blog", f"web-{i}")) for i in range(5)]
        else:
            objects.append(live(moved(d, "blog")))
    rbac = manifests(FIXTURES / "k8s/rbac/disallowed_cluster_admin_service_account.yaml")
    objects += [live(d) for d in rbac if d["kind"] == "ClusterRoleBinding"]
    return objects


def not_owned(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The objects an audit judges by default: those no controller owns."""
    return [o for o in objects if not o["metadata"].get("ownerReferences")]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The demo's rollguard.yaml, with deploy permissions restricted in high-risk namespaces."""
    raw = yaml.safe_load((DEMO / "rollguard.yaml").read_text(encoding="utf-8"))
    raw["parameters"]["k8s.deploy_permissions"] = {"allowed_groups": ["release-managers"]}
    raw["waivers"].append(
        {
            "id": "W-AFFINITY",
            "policy": "k8s.session_affinity",
            "match": {"name": "only-by-annotation"},
            "reason": "Sessions move to Redis in the next release.",
            "owner": "team-payments",
            "expires": "2099-12-31",
        }
    )
    path = tmp_path / "rollguard.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer(cluster_objects()) as api:
        yield api


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    # A regorus engine must be dropped on the thread that made it: collect the command's
    # leftovers here, not whenever a fake API server thread happens to trigger a collection.
    gc.collect()
    return result


def audit(api: FakeApiServer, tmp_path: Path, config: Path, *args: str) -> Result:
    kubeconfig = api.kubeconfig(tmp_path / f"kubeconfig-{next(_serial)}")
    return run("audit", "cluster", "--kubeconfig", str(kubeconfig), "--config", str(config), "--env", "prod", *args)


def finding_keys(report: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Findings as comparable tuples; where they came from (file, line) aside."""
    return sorted(
        (
            f["policy"],
            f["resource"]["apiVersion"],
            f["resource"]["kind"],
            f["resource"]["namespace"],
            f["resource"]["name"],
            f["message"],
            json.dumps(f["details"], sort_keys=True),
            (f["waiver"] or {}).get("id"),
            f["enforcement"],
        )
        for f in report["findings"]
    )


def check_as_files(objects: Iterable[Mapping[str, Any]], tmp_path: Path, config: Path, engine: str) -> dict[str, Any]:
    """`rollguard check` on the same objects written as manifests, one file per namespace."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    by_namespace: dict[str, list[Mapping[str, Any]]] = {}
    for obj in objects:
        by_namespace.setdefault(obj["metadata"].get("namespace") or "_cluster", []).append(obj)
    for ns, docs in by_namespace.items():
        (folder / f"{ns}.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    result = run("check", str(folder), "--config", str(config), "--env", "prod", "--engine", engine, "--format", "json")
    assert result.exit_code == 1, result.output
    report = dict(json.loads(result.stdout))
    # With --env, check also judges the change as a whole (a ChangeRequest); an audit judges objects.
    report["findings"] = [f for f in report["findings"] if f["resource"]["kind"] != "ChangeRequest"]
    return report


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_audit_pages_through_the_cluster_and_finds_what_check_finds(
    server: FakeApiServer, tmp_path: Path, config: Path, engine: str
) -> None:
    result = audit(server, tmp_path, config, "--page-size", "2", "--engine", engine, "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)

    # Every list was paged: the server saw continue tokens, and no list came in one piece.
    assert len(server.continue_requests("deployments")) >= 3
    lists = [q for path, q in server.requests if "limit" in q]
    assert lists and all(q["limit"] == "2" for q in lists)

    objects = not_owned(server_objects(server))
    judged = [o for o in objects if o["kind"] != "Namespace"]
    assert report["summary"]["resources"] == len(judged)
    expected = check_as_files(objects, tmp_path, config, engine)
    assert finding_keys(report) == finding_keys(expected)

    found = {(f["policy"], f["resource"]["kind"], f["resource"]["namespace"]) for f in report["findings"]}
    # The cross-object look-ups worked batch by batch: a Service against its namespace's
    # workloads, a workload against its Namespace's labels.
    affinity = {
        f["resource"]["name"]: (f["waiver"] or {}).get("id")
        for f in report["findings"]
        if f["policy"] == "k8s.session_affinity"
    }
    assert affinity == {"checkout": "W-AFFINITY", "checkout-canary": None}
    assert ("k8s.deploy_permissions", "Deployment", "shop") in found
    assert not any(ns == "blog" for policy, _, ns in found if policy == "k8s.deploy_permissions")
    assert ("k8s.rbac", "ClusterRoleBinding", None) in found
    # List items carry no apiVersion or kind; they come from the list (the preferred version).
    assert {
        f["resource"]["apiVersion"] for f in report["findings"] if f["resource"]["kind"] == "HorizontalPodAutoscaler"
    } <= {"autoscaling/v2"}
    assert "ReplicaSet" not in {f["resource"]["kind"] for f in report["findings"]}
    assert "1 skipped, their controllers judged instead" in result.stderr


def server_objects(api: FakeApiServer) -> list[dict[str, Any]]:
    """Every object the fake server holds, as stored."""
    return [obj for items in api.store.values() for _, obj in items]


def test_expired_continue_token_relists_without_judging_twice(tmp_path: Path, config: Path) -> None:
    with FakeApiServer(cluster_objects()) as api:
        baseline = audit(api, tmp_path, config, "--page-size", "2", "--format", "json")
    with FakeApiServer(cluster_objects(), expire={"deployments": 2}) as api:
        result = audit(api, tmp_path, config, "--page-size", "2", "--format", "json")
        assert api.expired == ["deployments"]
        deployment_lists = [q for path, q in api.requests if path == "/apis/apps/v1/deployments"]
    assert result.exit_code == baseline.exit_code == 1
    # The list restarted from the beginning after the 410 ...
    firsts = [i for i, q in enumerate(deployment_lists) if "continue" not in q]
    assert len(firsts) == 2 and firsts[1] > 2
    # ... and every object was judged once: the same findings, none twice.
    assert finding_keys(json.loads(result.stdout)) == finding_keys(json.loads(baseline.stdout))
    assert json.loads(result.stdout)["summary"]["resources"] == json.loads(baseline.stdout)["summary"]["resources"]
    assert "1 list(s) restarted after an expired continue token" in result.stderr


def test_policyreport_has_pass_evidence_and_true_counts(server: FakeApiServer, tmp_path: Path, config: Path) -> None:
    out = tmp_path / "reports.yaml"
    result = audit(server, tmp_path, config, "--format", "policyreport", "--output", str(out), "--page-size", "3")
    assert result.exit_code == 1 and result.stdout == ""
    docs = [d for d in yaml.safe_load_all(out.read_text(encoding="utf-8")) if d]
    as_json = json.loads(audit(server, tmp_path, config, "--format", "json").stdout)

    reports = {(d["kind"], d["metadata"].get("namespace")): d for d in docs}
    assert set(reports) == {
        ("PolicyReport", "shop"),
        ("PolicyReport", "payments"),
        ("PolicyReport", "blog"),
        ("ClusterPolicyReport", None),
    }
    totals = dict.fromkeys(OUTCOMES, 0)
    for doc in docs:
        assert doc["apiVersion"] == "wgpolicyk8s.io/v1alpha2"
        counted = dict.fromkeys(OUTCOMES, 0)
        for r in doc["results"]:
            counted[r["result"]] += 1
            assert r["source"] == "rollguard" and r["policy"] and r["rule"] and r["category"]
            assert r["severity"] in ("critical", "high", "medium", "low", "info")
            assert set(r["timestamp"]) == {"seconds", "nanos"} and isinstance(r["timestamp"]["seconds"], int)
            assert all(isinstance(v, str) for v in r["properties"].values())
            [ref] = r["resources"]
            assert ref["namespace" if doc["kind"] == "PolicyReport" else "name"]
            assert ref.get("namespace") == doc["metadata"].get("namespace")
            assert ref["uid"].startswith("00000000-")
        assert doc["summary"] == counted
        totals = {k: totals[k] + counted[k] for k in OUTCOMES}
    assert totals["pass"] > 0 and totals["fail"] > 0 and totals["warn"] > 0 and totals["skip"] > 0
    # Every finding is one non-pass result.
    assert totals["fail"] + totals["warn"] + totals["skip"] + totals["error"] == len(as_json["findings"])

    # A pass for every policy that applies to the kind and found nothing.
    bundle = load_bundle(POLICIES)
    applies = {p.id for p in bundle.policies if "Deployment" in p.applies_to and p.domain == "k8s"}
    web = [r for r in reports[("PolicyReport", "blog")]["results"] if r["resources"][0]["name"] == "web-0"]
    assert {r["policy"] for r in web} == applies
    failing = {f["policy"] for f in as_json["findings"] if f["resource"]["name"] == "web-0"}
    assert {r["policy"] for r in web if r["result"] == "pass"} == applies - failing

    shop = reports[("PolicyReport", "shop")]["results"]
    [waived] = [r for r in shop if r["result"] == "skip"]
    assert waived["policy"] == "k8s.image_registry" and waived["properties"]["waiver"] == "WVR-112"
    assert waived["properties"]["waiverOwner"] == "team-storefront"
    assert {r["policy"] for r in shop if r["result"] == "warn"} == {"k8s.secret_env"}
    # The ClusterRoleBinding: rbac fails it; deprecated_api judges its apiVersion and passes it.
    cluster = reports[("ClusterPolicyReport", None)]["results"]
    assert {(r["policy"], r["result"]) for r in cluster} == {("k8s.rbac", "fail"), ("k8s.deprecated_api", "pass")}
    assert len({r["resources"][0]["name"] for r in cluster}) == 1


def test_one_namespace(server: FakeApiServer, tmp_path: Path, config: Path) -> None:
    result = audit(server, tmp_path, config, "--namespace", "payments", "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == (1 if report["summary"]["blocking"] else 0)
    assert {f["resource"]["namespace"] for f in report["findings"]} == {"payments"}
    paths = [path for path, q in server.requests if "limit" in q]
    assert paths and any("/namespaces/payments/" in p for p in paths)
    # Only the cluster-scoped kinds policies read (a Rollout's ClusterAnalysisTemplate) are listed whole.
    assert [p for p in paths if "/namespaces/payments/" not in p] == [
        "/apis/argoproj.io/v1alpha1/clusteranalysistemplates"
    ]
    assert ("/api/v1/namespaces/payments", {}) in server.requests  # its labels, for the policies


def test_a_misspelt_namespace_is_an_error_not_an_empty_pass(
    server: FakeApiServer, tmp_path: Path, config: Path
) -> None:
    result = audit(server, tmp_path, config, "--namespace", "paymnets", "--kinds", "Deployment")
    assert result.exit_code == 2 and result.stdout == ""
    assert "namespace 'paymnets' does not exist" in result.stderr


def test_objects_whose_controller_is_judged_are_skipped_unless_asked(
    server: FakeApiServer, tmp_path: Path, config: Path
) -> None:
    def kinds(*args: str) -> tuple[set[str], int]:
        report = json.loads(audit(server, tmp_path, config, "--format", "json", *args).stdout)
        return {f["resource"]["kind"] for f in report["findings"]}, report["summary"]["resources"]

    everything, judged = kinds()
    assert "ReplicaSet" not in everything  # its Deployment is judged instead
    with_owned, judged_with_owned = kinds("--include-owned")
    assert "ReplicaSet" in with_owned and judged_with_owned == judged + 1
    # Without its Deployment in the audit, nothing else judges the ReplicaSet's template.
    assert kinds("--kinds", "ReplicaSet") == ({"ReplicaSet"}, 1)


def test_record_stores_the_audit(server: FakeApiServer, tmp_path: Path, config: Path) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    result = audit(server, tmp_path, config, "--record", "--store", store, "--format", "json")
    assert result.exit_code == 1 and "recorded decision 1 in " in result.stderr
    logged = run("audit", "log", "--store", store, "--format", "json")
    [entry] = json.loads(logged.stdout)
    record = entry["record"]
    assert record["source"] == "audit" and record["verdict"] == "fail"
    assert len(record["resources"]) == json.loads(result.stdout)["summary"]["resources"]
    assert "registry.example.com/shop/storefront:3.2.0" in [i["image"] for i in record["change"]["images"]]
    assert record["change"]["description"].startswith("live audit of all namespaces (context fake at http://127.0.0.1:")
    assert run("audit", "verify", "--store", store).exit_code == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing kubeconfig", r"^rollguard: .*nowhere\.yaml: kubeconfig not found; pass --kubeconfig FILE"),
        (
            "unknown context",
            r"^rollguard: .*kubeconfig: unknown context 'staging'; pass --context NAME \(known: fake\)$",
        ),
        (
            "unreachable server",
            r"^rollguard: cannot reach the API server of context fake at http://127\.0\.0\.1:\d+: .*refused",
        ),
    ],
)
def test_unusable_cluster_is_a_one_line_error(tmp_path: Path, config: Path, case: str, expected: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    args = ["--kubeconfig", str(kubeconfig)]
    if case == "missing kubeconfig":
        args = ["--kubeconfig", str(tmp_path / "nowhere.yaml")]
    else:
        write_kubeconfig(kubeconfig, f"http://127.0.0.1:{_closed_port()}")
    if case == "unknown context":
        args += ["--context", "staging"]
    for command in (["audit", "cluster", "--config", str(config)], ["drift", str(DEMO / "storefront.yaml")]):
        result = run(*command, *args)
        assert result.exit_code == 2, result.output
        assert result.stdout == "", "never a partial report"
        assert len(result.stderr.splitlines()) == 1
        assert re.match(expected, result.stderr.strip()), result.stderr


def test_lists_out_of_key_order_are_refused(tmp_path: Path, config: Path) -> None:
    with FakeApiServer(cluster_objects(), reverse=True) as api:
        result = audit(api, tmp_path, config, "--page-size", "2")
    assert result.exit_code == 2 and result.stdout == ""
    assert "out of key order" in result.stderr


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ("ConfigMap", "--kinds: no selected policy judges ConfigMap"),
        ("DeploymentConfig", "--kinds: the cluster serves no DeploymentConfig"),
    ],
)
def test_unknown_kinds_are_refused(
    server: FakeApiServer, tmp_path: Path, config: Path, kinds: str, expected: str
) -> None:
    result = audit(server, tmp_path, config, "--kinds", kinds)
    assert result.exit_code == 2 and expected in result.stderr


def test_cross_object_policies_look_only_within_the_namespace() -> None:
    """The audit judges a batch of whole namespaces at a time: policies may read only the
    reviewed object's namespace from the inventory, its Namespace object, and cluster-scoped
    kinds (which the audit puts into every batch)."""
    cluster_kinds = "|".join(sorted(CLUSTER_SCOPED_KINDS - {"Namespace"}))
    allowed = re.compile(
        r"data\.inventory\.(namespace\[(ns|k8s\.namespace)\]|rollguard_selectors\[(ns|k8s\.namespace)\]"
        r'|cluster(\.v1|\["v1"\])\.Namespace\[k8s\.namespace\]'
        rf'|cluster\[_\]\["({cluster_kinds})"\])'
    )
    reads = 0
    # The audit loads the k8s domain and the libraries it imports; whole-change and scan rules
    # read across namespaces by design and never run in an audit.
    audited = [
        POLICIES / "rollguard" / "k8s",
        POLICIES / "rollguard" / "lib" / "k8s",
        POLICIES / "rollguard" / "lib" / "image",
    ]
    for path in sorted(p for root in audited for p in root.rglob("*.rego")):
        if path.stem.endswith("_test"):
            continue
        code = "\n".join(
            line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")
        )
        for match in re.finditer(r'data\.inventory[\w."\[\]]*', code):
            reads += 1
            assert allowed.match(match.group()), f"{path.name}: {match.group()} reads beyond the object's namespace"
        for call in re.finditer(r"k8s\.(inventory|selector_candidates)\(([^,]+),", code):
            assert call.group(2).strip() == "k8s.namespace", f"{path.name}: {call.group()} looks in another namespace"
    assert reads >= 4


@pytest.mark.parametrize("scope", [(), ("--namespace", "shop")])
def test_cluster_scoped_templates_reach_every_batch(tmp_path: Path, config: Path, scope: tuple[str, ...]) -> None:
    """A Rollout's analysis from a ClusterAnalysisTemplate is verified although the template
    is listed apart from the Rollout's namespace; without the template it cannot be."""
    fixture = FIXTURES / "k8s" / "rollout_analysis" / "allowed_cluster_analysis.yaml"
    objects = [d for d in yaml.safe_load_all(fixture.read_text(encoding="utf-8")) if d]
    assert "ClusterAnalysisTemplate" in {o["kind"] for o in objects}
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})

    def rollout_findings(held: list[dict[str, Any]]) -> list[str]:
        with FakeApiServer(held) as api:
            result = audit(api, tmp_path, config, "--format", "json", "--page-size", "2", *scope)
        assert result.exit_code in (0, 1), result.output
        return [f["message"] for f in json.loads(result.stdout)["findings"] if f["policy"] == "k8s.rollout_analysis"]

    assert rollout_findings(objects) == []
    without = [o for o in objects if o["kind"] != "ClusterAnalysisTemplate"]
    [message] = rollout_findings(without)
    assert "references ClusterAnalysisTemplate http-slo, which is neither in the change nor in the inventory" in message
