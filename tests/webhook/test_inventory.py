"""The webhook's `--sync` inventory: paged lists, watches, 410 recovery, limits, errors and admission.

No API server can run here, so a small plain-HTTP server on 127.0.0.1 (ThreadingHTTPServer)
stands in for one: it serves list pages with continue tokens, chunked watch streams, Status
errors and 410 Gone, and the official kubernetes client reaches it through a kubeconfig file.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from rollguard.contract import CLUSTER_SCOPED_KINDS, build_inventory
from rollguard.errors import ClusterError
from rollguard.policy.bundle import PolicySources
from rollguard.webhook.inventory import KNOWN_KINDS, InventorySync
from rollguard.webhook.metrics import Metrics
from rollguard.webhook.service import AdmissionService, PolicySource

from ..conftest import FIXTURES, POLICIES

TOKEN = "rollguard-test-token"
# Real API paths, written out so a wrong path in the kind table fails here.
PATHS = {
    "PodDisruptionBudget": ("/apis/policy/v1/poddisruptionbudgets", "policy/v1"),
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2/horizontalpodautoscalers", "autoscaling/v2"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1/networkpolicies", "networking.k8s.io/v1"),
    "Namespace": ("/api/v1/namespaces", "v1"),
}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BASELINE = FIXTURES / "k8s" / "readiness_probe" / "allowed_deployment.yaml"


# --- the stand-in API server ---------------------------------------------------------------


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A metav1.Status as the API server sends it with an error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeApiServer:
    """The collections of a few kinds, with a resourceVersion counter and an event log per kind."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.rv = 1000
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {p: {} for p, _ in PATHS.values()}
        self.events: dict[str, list[tuple[int, str, dict[str, Any]]]] = {p: [] for p, _ in PATHS.values()}
        self.compacted: dict[str, int] = {}  # watches from before this resourceVersion get 410
        self.failures: list[tuple[str, str, int]] = []  # one-shot (path, "list"|"watch", status)
        self.expire_continue: set[str] = set()  # one-shot: the next continue token of this path is too old
        self.continue_gate: threading.Event | None = None  # when set, continue pages wait for it
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        self.answered: list[tuple[str, int]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # The test's side: change the cluster.

    def put(self, kind: str, obj: Mapping[str, Any], *, silently: bool = False) -> None:
        """Create or update an object; with `silently`, no watch event (as after etcd compaction)."""
        path, api_version = PATHS[kind]
        with self.cond:
            self.rv += 1
            stored = {"apiVersion": api_version, "kind": kind, **copy.deepcopy(dict(obj))}
            stored["metadata"] = {**stored["metadata"], "resourceVersion": str(self.rv)}
            key = (stored["metadata"].get("namespace", ""), stored["metadata"]["name"])
            kind_of_event = "MODIFIED" if key in self.objects[path] else "ADDED"
            self.objects[path][key] = stored
            if not silently:
                self.events[path].append((self.rv, kind_of_event, stored))
            self.cond.notify_all()

    def delete(self, kind: str, namespace: str, name: str, *, silently: bool = False) -> None:
        """Delete an object; with `silently`, no watch event."""
        path, _ = PATHS[kind]
        with self.cond:
            self.rv += 1
            gone = self.objects[path].pop((namespace, name))
            if not silently:
                gone = {**gone, "metadata": {**gone["metadata"], "resourceVersion": str(self.rv)}}
                self.events[path].append((self.rv, "DELETED", gone))
            self.cond.notify_all()

    def compact(self, kind: str) -> None:
        """Forget the event history: watches from an older resourceVersion get 410 Gone."""
        path, _ = PATHS[kind]
        with self.cond:
            self.events[path].clear()
            self.compacted[path] = self.rv
            self.cond.notify_all()

    def fail_once(self, kind: str, mode: str, code: int) -> None:
        """Answer the next list or watch request of `kind` with an error status."""
        with self.cond:
            self.failures.append((PATHS[kind][0], mode, code))

    def seen(self, kind: str, *, mode: str) -> list[dict[str, str]]:
        """Query strings of the requests for `kind`: "list" (first pages), "continue" or "watch"."""
        path = PATHS[kind][0]
        with self.cond:
            queries = [q for p, q, _ in self.requests if p == path]
        if mode == "watch":
            return [q for q in queries if q.get("watch") in ("true", "1")]
        lists = [q for q in queries if q.get("watch") not in ("true", "1")]
        return [q for q in lists if ("continue" in q) == (mode == "continue")]

    # The server's side.

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked watch streams need it

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.serve(self)

        return Handler

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        auth = h.headers.get("Authorization")
        watch = query.get("watch") in ("true", "1")
        with self.cond:
            self.requests.append((url.path, query, auth))
            failure = next(
                (f for f in self.failures if f[0] == url.path and f[1] == ("watch" if watch else "list")), None
            )
            if failure is not None:
                self.failures.remove(failure)
        if auth != f"Bearer {TOKEN}":
            return self._send(h, 401, status(401, "Unauthorized", "Unauthorized"))
        if failure is not None:
            return self._send(
                h,
                failure[2],
                status(failure[2], "InternalError", 'an error on the server ("etcdserver: leader changed")'),
            )
        if url.path not in self.objects:
            return self._send(h, 404, status(404, "NotFound", "the server could not find the requested resource"))
        if watch:
            return self._watch(h, url.path, query)
        return self._list(h, url.path, query)

    def _list(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> None:
        token = query.get("continue")
        offset = 0
        if token is not None:
            if self.continue_gate is not None:
                self.continue_gate.wait(10)
            with self.cond:
                expired = path in self.expire_continue
                self.expire_continue.discard(path)
            if expired:
                message = "The provided continue parameter is too old to display a consistent list result."
                return self._send(h, 410, status(410, "Expired", message))
            offset = json.loads(base64.b64decode(token))["offset"]
        with self.cond:
            items = [self.objects[path][k] for k in sorted(self.objects[path])]
            rv = self.rv
        limit = int(query.get("limit") or len(items) or 1)
        page = items[offset : offset + limit]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if offset + limit < len(items):
            meta["continue"] = base64.b64encode(json.dumps({"offset": offset + limit, "rv": rv}).encode()).decode()
            meta["remainingItemCount"] = len(items) - offset - limit
        kind = next(k for k, (p, _) in PATHS.items() if p == path)
        body = {
            "kind": f"{kind}List",
            "apiVersion": PATHS[kind][1],
            "metadata": meta,
            # Items of a typed list carry no apiVersion and kind.
            "items": [{k: v for k, v in item.items() if k not in ("apiVersion", "kind")} for item in page],
        }
        self._send(h, 200, body)

    def _watch(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> None:
        since = int(query.get("resourceVersion") or self.rv)
        deadline = time.monotonic() + min(float(query.get("timeoutSeconds") or 1), 2.0)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        with self.cond:
            self.answered.append((path, 200))

        def chunk(event: Mapping[str, Any]) -> None:
            data = (json.dumps(event) + "\n").encode()
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        try:
            while True:
                with self.cond:
                    if self.compacted.get(path, 0) > since:
                        message = f"too old resource version: {since} ({self.compacted[path]})"
                        chunk({"type": "ERROR", "object": status(410, "Expired", message)})
                        break
                    pending = [(rv, t, o) for rv, t, o in self.events[path] if rv > since]
                    remaining = deadline - time.monotonic()
                    if not pending:
                        if remaining <= 0:
                            if query.get("allowWatchBookmarks") == "true":
                                bookmark = {
                                    "kind": "Bookmark",
                                    "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(self.rv)},
                                }
                                chunk({"type": "BOOKMARK", "object": bookmark})
                            break
                        self.cond.wait(remaining)
                        continue
                for rv, kind_of_event, obj in pending:
                    chunk({"type": kind_of_event, "object": obj})
                    since = rv
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up (stop() shuts its socket down)

    def _send(self, h: BaseHTTPRequestHandler, code: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        with self.cond:
            self.answered.append((urlsplit(h.path).path, code))


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    server.thread.start()
    yield server
    if server.continue_gate is not None:
        server.continue_gate.set()
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def kubeconfig(tmp_path: Path, api: FakeApiServer) -> Path:
    path = tmp_path / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
        "users": [{"name": "tester", "user": {"token": TOKEN}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


SyncFactory = Callable[..., InventorySync]


@pytest.fixture
def make_sync(kubeconfig: Path) -> Iterator[SyncFactory]:
    made: list[InventorySync] = []

    def make(kinds: list[str], *, metrics: Metrics | None = None, start: bool = True, **kwargs: Any) -> InventorySync:
        sync = InventorySync(kinds, kubeconfig=str(kubeconfig), context=None, metrics=metrics or Metrics(), **kwargs)
        # Short enough to keep the suite fast, long enough not to spin.
        sync.watch_seconds = 1
        sync.backoff_initial = 0.02
        sync.backoff_max = 0.1
        sync.overflow_retry_seconds = 60.0
        made.append(sync)
        if start:
            sync.start()
        return sync

    yield make
    for sync in made:
        sync.stop()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- objects --------------------------------------------------------------------------------


def pdb(name: str, namespace: str, app: str, max_unavailable: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "labels": {"team": "shop"},
        },
        "spec": {"maxUnavailable": max_unavailable, "selector": {"matchLabels": {"app.kubernetes.io/name": app}}},
    }


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/metadata.name": name},
            "annotations": {"rollguard.example/owner": "platform"},  # kept when kubectl's goes
        },
        "spec": {"finalizers": ["kubernetes"]},
    }


def as_recorded(obj: Mapping[str, Any], *, phase: str = "ok") -> dict[str, Any]:
    """`obj` as the API server holds it: managed fields, kubectl's annotation and status included."""
    meta = dict(obj["metadata"])
    meta["managedFields"] = [
        {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {"f:spec": {}}}
    ]
    meta["annotations"] = {**meta.get("annotations", {}), LAST_APPLIED: json.dumps(obj)}
    return {**obj, "metadata": meta, "status": {"phase": phase, "observedGeneration": 1}}


def seed(api: FakeApiServer, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        api.put(obj["kind"], as_recorded(obj))


PDBS = [pdb(f"pdb-{i}", "shop" if i % 2 else "payments", f"app-{i}") for i in range(7)]
NAMESPACES = [namespace(n) for n in ("shop", "payments", "kube-system")]


def gauge(metrics: Metrics, name: str, kind: str) -> float | None:
    value = metrics.registry.get_sample_value(name, {"kind": kind})
    return None if value is None else float(value)


# --- configuration errors -------------------------------------------------------------------


def test_unknown_kind_names_it_and_lists_the_known_ones(kubeconfig: Path) -> None:
    with pytest.raises(ClusterError) as err:
        InventorySync(
            ["PodDisruptionBudget", "Frobnicator"], kubeconfig=str(kubeconfig), context=None, metrics=Metrics()
        )
    message = str(err.value)
    assert "Frobnicator" in message and "PodDisruptionBudget" in message and "NetworkPolicy" in message
    assert "\n" not in message


def test_kinds_are_case_insensitive_and_deduplicated(make_sync: SyncFactory) -> None:
    sync = make_sync(["poddisruptionbudget", "PodDisruptionBudget", "namespace"], start=False)
    assert sync.kinds == ("PodDisruptionBudget", "Namespace")


def test_missing_kubeconfig_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ClusterError) as err:
        InventorySync(["Namespace"], kubeconfig=str(tmp_path / "absent"), context=None, metrics=Metrics())
    assert "absent: kubeconfig not found" in str(err.value)
    assert "\n" not in str(err.value)


def test_no_kubeconfig_outside_a_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError) as err:
        InventorySync(["Namespace"], kubeconfig=None, context=None, metrics=Metrics())
    assert "not running in a cluster" in str(err.value) and "\n" not in str(err.value)


def test_unknown_context_names_it_and_the_known_ones(kubeconfig: Path) -> None:
    with pytest.raises(ClusterError) as err:
        InventorySync(["Namespace"], kubeconfig=str(kubeconfig), context="staging", metrics=Metrics())
    message = str(err.value)
    assert "'staging'" in message and "known: fake" in message and "\n" not in message


def test_the_kind_table_agrees_with_the_real_paths() -> None:
    for kind, (path, api_version) in PATHS.items():
        assert (KNOWN_KINDS[kind].path, KNOWN_KINDS[kind].api_version) == (path, api_version)


def test_the_kind_table_agrees_with_build_inventory_on_scope() -> None:
    # build_inventory files objects as cluster-scoped by kind name alone.
    wrong = [k.kind for k in KNOWN_KINDS.values() if k.namespaced == (k.kind in CLUSTER_SCOPED_KINDS)]
    assert wrong == []


def test_a_context_without_a_kubeconfig_in_a_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    with pytest.raises(ClusterError) as err:
        InventorySync(["Namespace"], kubeconfig=None, context="prod", metrics=Metrics())
    assert "--context prod needs a kubeconfig" in str(err.value) and "\n" not in str(err.value)


# --- listing --------------------------------------------------------------------------------


def test_first_sync_reads_every_page_before_it_is_ready(api: FakeApiServer, make_sync: SyncFactory) -> None:
    seed(api, PDBS + NAMESPACES)
    api.continue_gate = threading.Event()
    metrics = Metrics()
    sync = make_sync(["PodDisruptionBudget", "Namespace"], metrics=metrics, page_size=3)

    wait_for(lambda: api.seen("PodDisruptionBudget", mode="continue"), "the second page of budgets to be asked for")
    wait_for(lambda: gauge(metrics, "rollguard_inventory_synced", "Namespace") == 1, "namespaces to be listed")
    assert not sync.ready, "ready before every page of every kind was read"
    assert "PodDisruptionBudget" not in sync.snapshot()[1]
    api.continue_gate.set()
    wait_for(lambda: sync.ready, "the first sync")

    # 7 budgets in pages of 3: one first page and two continued ones, each with the limit.
    assert [q["limit"] for q in api.seen("PodDisruptionBudget", mode="list")] == ["3"]
    assert len(api.seen("PodDisruptionBudget", mode="continue")) == 2
    assert all(q["limit"] == "3" for q in api.seen("PodDisruptionBudget", mode="continue"))
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in api.requests), "kubeconfig credentials not sent"

    inventory, synced = sync.snapshot()
    assert synced == frozenset({"PodDisruptionBudget", "Namespace"})
    # Stripped of managed fields, kubectl's annotation and status; apiVersion and kind restored.
    assert inventory == build_inventory(PDBS + NAMESPACES)
    assert inventory["namespace"]["shop"]["policy/v1"]["PodDisruptionBudget"]["pdb-1"]["metadata"]["labels"] == {
        "team": "shop"
    }
    assert inventory["rollguard_selectors"]["shop"]["PodDisruptionBudget"]["by_label"]["app.kubernetes.io/name"][
        "app-1"
    ] == [["policy/v1", "pdb-1"]]
    assert gauge(metrics, "rollguard_inventory_objects", "PodDisruptionBudget") == 7
    assert gauge(metrics, "rollguard_inventory_objects", "Namespace") == 3
    assert gauge(metrics, "rollguard_inventory_synced", "PodDisruptionBudget") == 1


def test_watch_starts_from_the_lists_resource_version(api: FakeApiServer, make_sync: SyncFactory) -> None:
    seed(api, PDBS)
    listed_at = str(api.rv)
    sync = make_sync(["PodDisruptionBudget"])
    wait_for(lambda: api.seen("PodDisruptionBudget", mode="watch"), "a watch")
    first = api.seen("PodDisruptionBudget", mode="watch")[0]
    assert first["resourceVersion"] == listed_at
    assert first["allowWatchBookmarks"] == "true"
    assert int(first["timeoutSeconds"]) == sync.watch_seconds


# --- watching -------------------------------------------------------------------------------


def budgets(sync: InventorySync, ns: str = "shop") -> dict[str, Any]:
    inventory, _ = sync.snapshot()
    return dict(inventory["namespace"].get(ns, {}).get("policy/v1", {}).get("PodDisruptionBudget", {}))


def test_watch_events_add_modify_and_delete(api: FakeApiServer, make_sync: SyncFactory) -> None:
    seed(api, PDBS)
    sync = make_sync(["PodDisruptionBudget"])
    wait_for(lambda: sync.ready, "the first sync")
    start = sync.version

    api.put("PodDisruptionBudget", as_recorded(pdb("web", "shop", "web")))
    wait_for(lambda: "web" in budgets(sync), "the added budget")
    assert budgets(sync)["web"] == pdb("web", "shop", "web")
    added = sync.version
    assert added > start

    api.put("PodDisruptionBudget", as_recorded(pdb("web", "shop", "web", max_unavailable=2)))
    wait_for(lambda: budgets(sync)["web"]["spec"]["maxUnavailable"] == 2, "the modified budget")
    modified = sync.version
    assert modified > added

    # A status-only write changes nothing policies read: no new version (no engine rebuild);
    # the change queued behind it proves the watch got past it.
    api.put("PodDisruptionBudget", as_recorded(pdb("web", "shop", "web", max_unavailable=2), phase="other"))
    api.delete("PodDisruptionBudget", "shop", "pdb-1")
    wait_for(lambda: "pdb-1" not in budgets(sync), "the deleted budget")
    assert sync.version == modified + 1
    assert sorted(budgets(sync)) == ["pdb-3", "pdb-5", "web"]
    _, synced = sync.snapshot()
    assert synced == frozenset({"PodDisruptionBudget"})


@pytest.mark.parametrize("how", ["error event", "status"])
def test_410_gone_relists_without_duplicates_or_stale_objects(
    api: FakeApiServer, make_sync: SyncFactory, how: str
) -> None:
    seed(api, PDBS)
    metrics = Metrics()
    sync = make_sync(["PodDisruptionBudget"], metrics=metrics, page_size=2)
    wait_for(lambda: sync.ready, "the first sync")
    lists_before = len(api.seen("PodDisruptionBudget", mode="list"))

    # Changes the watch never hears of, as after etcd compaction.
    api.delete("PodDisruptionBudget", "shop", "pdb-1", silently=True)
    api.put("PodDisruptionBudget", as_recorded(pdb("pdb-3", "shop", "app-3", max_unavailable=3)), silently=True)
    api.put("PodDisruptionBudget", as_recorded(pdb("late", "shop", "late")), silently=True)
    if how == "error event":
        api.compact("PodDisruptionBudget")  # the open watch gets an ERROR event with code 410
    else:
        api.fail_once("PodDisruptionBudget", "watch", 410)  # the next watch request is answered 410

    expected = [p for p in PDBS if p["metadata"]["name"] not in ("pdb-1", "pdb-3")]
    expected += [pdb("pdb-3", "shop", "app-3", max_unavailable=3), pdb("late", "shop", "late")]
    wait_for(lambda: sync.snapshot()[0] == build_inventory(expected), "the re-listed inventory")
    assert len(api.seen("PodDisruptionBudget", mode="list")) == lists_before + 1
    assert gauge(metrics, "rollguard_inventory_objects", "PodDisruptionBudget") == len(expected)

    # And the sync carries on watching from the new list.
    api.put("PodDisruptionBudget", as_recorded(pdb("after", "shop", "after")))
    wait_for(lambda: "after" in budgets(sync), "an event after the re-list")


def test_expired_continue_token_restarts_the_list(api: FakeApiServer, make_sync: SyncFactory) -> None:
    seed(api, PDBS)
    api.expire_continue.add(PATHS["PodDisruptionBudget"][0])
    sync = make_sync(["PodDisruptionBudget"], page_size=3)
    wait_for(lambda: sync.ready, "the first sync")
    assert (PATHS["PodDisruptionBudget"][0], 410) in api.answered
    assert len(api.seen("PodDisruptionBudget", mode="list")) == 2, "the list did not start again from the top"
    assert sync.snapshot()[0] == build_inventory(PDBS)


# --- limits and errors ----------------------------------------------------------------------


def test_too_many_objects_make_the_kind_unsynced(api: FakeApiServer, make_sync: SyncFactory) -> None:
    seed(api, PDBS + NAMESPACES)
    metrics = Metrics()
    sync = make_sync(["PodDisruptionBudget", "Namespace"], metrics=metrics, max_objects=5, page_size=3)
    wait_for(lambda: sync.ready, "both kinds to be listed or given up")
    inventory, synced = sync.snapshot()
    assert synced == frozenset({"Namespace"})
    assert inventory == build_inventory(NAMESPACES), "a partial view of the budgets is held"
    # Paging stopped once the limit was passed: the third page was never asked for.
    assert len(api.seen("PodDisruptionBudget", mode="continue")) == 1
    assert gauge(metrics, "rollguard_inventory_synced", "PodDisruptionBudget") == 0
    assert gauge(metrics, "rollguard_inventory_objects", "PodDisruptionBudget") == 0


def test_growing_past_the_limit_while_watching_makes_the_kind_unsynced(
    api: FakeApiServer, make_sync: SyncFactory
) -> None:
    seed(api, PDBS)
    metrics = Metrics()
    sync = make_sync(["PodDisruptionBudget"], metrics=metrics, max_objects=len(PDBS))
    wait_for(lambda: sync.ready, "the first sync")
    assert sync.snapshot()[1] == frozenset({"PodDisruptionBudget"})
    before = sync.version
    api.put("PodDisruptionBudget", as_recorded(pdb("one-too-many", "shop", "x")))
    wait_for(lambda: sync.snapshot()[1] == frozenset(), "the kind to be dropped")
    assert sync.version > before
    assert budgets(sync) == {}
    assert gauge(metrics, "rollguard_inventory_synced", "PodDisruptionBudget") == 0


@pytest.mark.parametrize("mode", ["list", "watch"])
def test_a_server_error_is_retried(api: FakeApiServer, make_sync: SyncFactory, mode: str) -> None:
    seed(api, PDBS)
    api.fail_once("PodDisruptionBudget", mode, 500)
    sync = make_sync(["PodDisruptionBudget"])
    wait_for(lambda: sync.ready, "the first sync")
    api.put("PodDisruptionBudget", as_recorded(pdb("web", "shop", "web")))
    wait_for(lambda: "web" in budgets(sync), "an event after the error")
    assert (PATHS["PodDisruptionBudget"][0], 500) in api.answered
    assert sync.snapshot()[1] == frozenset({"PodDisruptionBudget"})


def test_an_unserved_kind_keeps_retrying_and_is_never_ready(api: FakeApiServer, make_sync: SyncFactory) -> None:
    sync = make_sync(["Namespace", "Deployment"])  # the stand-in serves no Deployments: 404
    wait_for(lambda: ("/apis/apps/v1/deployments", 404) in api.answered, "a first 404")
    wait_for(lambda: api.answered.count(("/apis/apps/v1/deployments", 404)) >= 3, "retries")
    assert not sync.ready
    assert sync.snapshot()[1] == frozenset({"Namespace"})


def test_stop_ends_every_thread(api: FakeApiServer, make_sync: SyncFactory) -> None:
    sync = make_sync(["PodDisruptionBudget", "Namespace"])
    wait_for(lambda: len(api.seen("Namespace", mode="watch")) > 0, "a watch")
    sync.stop()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("rollguard-sync-")]


# --- end to end through the admission service -----------------------------------------------


def the_deployment() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(BASELINE.read_text()) if d]
    return next(d for d in docs if d["kind"] == "Deployment")


def review_of(deployment: Mapping[str, Any]) -> dict[str, Any]:
    meta = deployment["metadata"]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0b7a4b8e-5d2c-4e8f-9a61-6c3d2e1f0a99",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "operation": "CREATE",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "object": deployment,
            "oldObject": None,
            "userInfo": {"username": "alice", "groups": ["developers"]},
        },
    }


def pdb_coverage_says(service: AdmissionService) -> list[str]:
    """What k8s.pdb_coverage says about the baseline Deployment, through service.validate."""
    review = review_of(the_deployment())
    answer = asyncio.run(service.validate(review["apiVersion"], review["request"]))
    response = answer.review["response"]
    lines = (response.get("status") or {}).get("message", "").splitlines() + list(response.get("warnings") or ())
    return [line for line in lines if line.startswith("[k8s.pdb_coverage]")]


def service_on(sync: InventorySync) -> AdmissionService:
    source = PolicySource(policies=PolicySources(base=POLICIES), config_path=None, environment=None, engine="opa")
    service = AdmissionService(source, metrics=sync.metrics, inventory=sync.snapshot)
    service.inventory_ready = lambda: sync.ready
    return service


def test_admission_judges_with_the_synced_budgets(api: FakeApiServer, make_sync: SyncFactory) -> None:
    seed(api, NAMESPACES)
    sync = make_sync(["PodDisruptionBudget", "HorizontalPodAutoscaler", "Namespace"])
    service = service_on(sync)
    wait_for(lambda: sync.ready, "the first sync")
    service.load()
    try:
        assert service.ready
        said = pdb_coverage_says(service)
        assert len(said) == 1 and "runs 3 replicas but no PodDisruptionBudget in namespace" in said[0], said

        before = sync.version
        budget = next(d for d in yaml.safe_load_all(BASELINE.read_text()) if d and d["kind"] == "PodDisruptionBudget")
        api.put("PodDisruptionBudget", as_recorded(budget))
        wait_for(lambda: sync.version > before, "the budget to arrive")
        assert service.reload("inventory changed")
        assert pdb_coverage_says(service) == []
    finally:
        service.close()


def test_a_policy_reading_an_unsynced_kind_says_so(api: FakeApiServer, make_sync: SyncFactory) -> None:
    budget = next(d for d in yaml.safe_load_all(BASELINE.read_text()) if d and d["kind"] == "PodDisruptionBudget")
    seed(api, [budget])
    sync = make_sync(["PodDisruptionBudget"])  # pdb_coverage also reads HorizontalPodAutoscalers
    service = service_on(sync)
    wait_for(lambda: sync.ready, "the first sync")
    service.load()
    try:
        said = pdb_coverage_says(service)
        assert len(said) == 1, said
        # Gate._flag_unsynced's finding, in place of a judgement on a partial view.
        assert "HorizontalPodAutoscaler" in said[0] and "not synced" in said[0], said
    finally:
        service.close()


def test_a_kind_over_the_limit_is_reported_as_not_synced(api: FakeApiServer, make_sync: SyncFactory) -> None:
    seed(api, PDBS)
    sync = make_sync(["PodDisruptionBudget", "HorizontalPodAutoscaler"], max_objects=3)
    service = service_on(sync)
    wait_for(lambda: sync.ready, "the first sync")
    service.load()
    try:
        said = pdb_coverage_says(service)
        assert len(said) == 1, said
        assert "PodDisruptionBudget" in said[0] and "not synced" in said[0], said
        assert "no PodDisruptionBudget in namespace" not in said[0]
    finally:
        service.close()
