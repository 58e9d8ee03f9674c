"""Hold the kinds named by `rollguard serve --sync` in memory from list+watch, as the policies' inventory."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rollguard.contract import build_inventory
from rollguard.errors import ClusterError, one_line
from rollguard.kube.connect import connect
from rollguard.kube.kinds import KINDS, KindApi
from rollguard.webhook.metrics import Metrics
from rollguard.webhook.service import log_event

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
GONE = 410


# The kinds policies read from the inventory, and their neighbours. Secrets are left out on
# purpose: no policy needs them, and holding them would put every credential in our memory.
KNOWN_KINDS: dict[str, KindApi] = {
    kind: KINDS[kind]
    for kind in (
        "Namespace",
        "Node",
        "Service",
        "ServiceAccount",
        "ConfigMap",
        "ReplicationController",
        "LimitRange",
        "ResourceQuota",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Ingress",
        "IngressClass",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "CronJob",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
        "StorageClass",
        "Rollout",
        "AnalysisTemplate",
        "ClusterAnalysisTemplate",
        "DeploymentConfig",
    )
}


def resolve_kind(name: str) -> KindApi:
    """The API of a kind named on the command line (case-insensitive)."""
    by_lower = {k.lower(): api for k, api in KNOWN_KINDS.items()}
    api = by_lower.get(name.strip().lower())
    if api is None:
        raise ClusterError(f"--sync {name}: unknown kind; known kinds: {', '.join(sorted(KNOWN_KINDS))}")
    return api


def strip_object(item: Mapping[str, Any], api: KindApi) -> dict[str, Any]:
    """A copy of `item` without what no policy reads, with its apiVersion and kind set.

    resourceVersion goes too: every status write changes it, and keeping it would turn
    each status update into an inventory change and an engine rebuild.
    """
    obj = {k: v for k, v in item.items() if k != "status"}
    obj["apiVersion"] = api.api_version  # list items come without them
    obj["kind"] = api.kind
    meta = {k: v for k, v in (item.get("metadata") or {}).items() if k not in ("managedFields", "resourceVersion")}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        rest = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        if rest:
            meta["annotations"] = rest
        else:
            del meta["annotations"]
    obj["metadata"] = meta
    return obj


def _key(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return None
    namespace = meta.get("namespace")
    return (namespace if isinstance(namespace, str) else "", name)


class _Overflow(Exception):
    """A kind holds more objects than max_objects."""


@dataclass
class _KindState:
    api: KindApi
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    listed: bool = False  # the first list has ended (synced, or given up as too large)
    synced: bool = False
    resource_version: str | None = None
    watch: Any = None  # the kubernetes.watch.Watch streaming now, so stop() can interrupt it


class InventorySync:
    """List+watch a few kinds with the official client and serve them as Gatekeeper's inventory."""

    # Tunables; the defaults suit a real API server (tests shorten them).
    watch_seconds = 300  # the API server ends each watch after this; we resume from the last resourceVersion
    request_timeout = (10.0, 60.0)  # connect, read for list pages
    backoff_initial = 0.5
    backoff_max = 30.0
    overflow_retry_seconds = 600.0  # how long a kind over max_objects stays unsynced before a new attempt

    def __init__(
        self,
        kinds: Sequence[str],
        *,
        kubeconfig: str | None,
        context: str | None,
        metrics: Metrics,
        max_objects: int = 50_000,
        page_size: int = 500,
    ) -> None:
        apis: dict[str, KindApi] = {}
        for name in kinds:
            api = resolve_kind(name)
            apis.setdefault(api.kind, api)
        if not apis:
            raise ClusterError("--sync: name at least one kind")
        self.metrics = metrics
        self.max_objects = max_objects
        self.page_size = page_size
        self._states = {kind: _KindState(api) for kind, api in apis.items()}
        # One connection per watch plus one for lists, so the pool never discards a connection.
        self._client = connect(kubeconfig, context, pool_size=len(apis) + 2).client
        self._lock = threading.Lock()
        self._version = 0
        self._cached: tuple[int, tuple[dict[str, Any], frozenset[str]]] | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        for kind in self._states:
            metrics.inventory_objects.labels(kind=kind).set(0)
            metrics.inventory_synced.labels(kind=kind).set(0)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds this sync holds, by their canonical names."""
        return tuple(self._states)

    @property
    def ready(self) -> bool:
        """True once every kind's first full list has completed (or the kind was found too large to hold)."""
        with self._lock:
            return all(s.listed for s in self._states.values())

    @property
    def version(self) -> int:
        """Increments on every change to the held objects or to which kinds are synced."""
        with self._lock:
            return self._version

    def snapshot(self) -> tuple[dict[str, Any], frozenset[str]]:
        """The inventory in Gatekeeper's layout and the kinds really synced; treat both as read-only."""
        with self._lock:
            if self._cached is not None and self._cached[0] == self._version:
                return self._cached[1]
            version = self._version
            documents = [o for s in self._states.values() if s.synced for o in s.objects.values()]
            synced = frozenset(k for k, s in self._states.items() if s.synced)
        # Stored objects are replaced, never mutated, so building outside the lock is safe.
        result = (build_inventory(documents), synced)
        with self._lock:
            if self._version == version:
                self._cached = (version, result)
        return result

    def start(self) -> None:
        """Start one daemon thread per kind: list, then watch, forever."""
        if self._threads:
            return
        for kind, state in self._states.items():
            thread = threading.Thread(target=self._run, args=(state,), name=f"rollguard-sync-{kind}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop every thread (waiting up to a few seconds) and close the connections."""
        self._stopping.set()
        deadline = time.monotonic() + 5.0
        for thread in self._threads:
            while thread.is_alive() and time.monotonic() < deadline:
                # Again and again: a watch whose request was in flight at the first call has
                # no socket to shut down yet, and would otherwise block until the server ends it.
                with self._lock:
                    watches = [s.watch for s in self._states.values() if s.watch is not None]
                for w in watches:
                    w.stop()
                thread.join(timeout=0.05)
        self._client.close()

    # -- one kind's loop ---------------------------------------------------------------------

    def _run(self, state: _KindState) -> None:
        import kubernetes.watch

        kind = state.api.kind
        watch: Any = kubernetes.watch
        stream = watch.Watch()  # one per thread: each makes an ApiClient of its own
        with self._lock:
            state.watch = stream
        need_list = True
        failures = 0
        while not self._stopping.is_set():
            try:
                if need_list:
                    state.resource_version = self._list(state)
                    need_list = False
                    failures = 0
                events = self._watch(state, stream)
                failures = 0
                if not events:
                    # The server closed the watch without news: do not hammer it.
                    self._stopping.wait(self.backoff_initial)
            except _Overflow:
                self._overflow(state)
                need_list = True
                self._stopping.wait(self.overflow_retry_seconds)
            except Exception as exc:  # a sync thread must outlive every error
                if self._stopping.is_set():
                    return
                failures += 1
                status = getattr(exc, "status", None)
                if status == GONE:
                    # Our resourceVersion or continue token is too old: list again from scratch.
                    need_list = True
                    delay = 0.0 if failures == 1 else self._backoff(failures - 1)
                    log_event("inventory_relist", kind=kind, reason=one_line(exc), retry_in=round(delay, 2))
                else:
                    delay = self._backoff(failures)
                    log_event(
                        "inventory_sync_error",
                        kind=kind,
                        status=status,
                        error=one_line(getattr(exc, "reason", None) or exc),
                        retry_in=round(delay, 2),
                        level=logging.WARNING,
                    )
                self._stopping.wait(delay)

    def _backoff(self, failures: int) -> float:
        delay = min(self.backoff_max, self.backoff_initial * 2.0 ** (failures - 1))
        return delay * random.uniform(0.5, 1.0)  # jitter: replicas restarted together do not list in step

    def _list(self, state: _KindState) -> str | None:
        """List every page, then replace the kind's objects at once; return the list's resourceVersion."""
        api = state.api
        objects: dict[tuple[str, str], dict[str, Any]] = {}
        token: str | None = None
        pages = 0
        while True:
            body = self._get_json(api, limit=self.page_size, _continue=token)
            pages += 1
            for item in body.get("items") or ():
                obj = strip_object(item, api)
                key = _key(obj)
                if key is not None:
                    objects[key] = obj
                if len(objects) > self.max_objects:
                    raise _Overflow  # stop paging now: the rest would only be thrown away
            meta = body.get("metadata") or {}
            token = meta.get("continue") or None
            if token is None:
                break
        self._replace(state, objects)
        log_event("inventory_listed", kind=api.kind, objects=len(objects), pages=pages)
        version = meta.get("resourceVersion")
        return version if isinstance(version, str) and version else None

    def _watch(self, state: _KindState, stream: Any) -> int:
        """Follow one watch until the server ends it; return how many events came."""
        if self._stopping.is_set():
            return 0
        count = 0
        events = stream.stream(
            self._request,
            state.api,
            resource_version=state.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_seconds,
            _request_timeout=(self.request_timeout[0], self.watch_seconds + 30),
        )
        try:
            for event in events:
                count += 1
                self._apply(state, event)
                if self._stopping.is_set():
                    break
        finally:
            events.close()  # release the connection now, also when an event raised
        return count

    def _apply(self, state: _KindState, event: Mapping[str, Any]) -> None:
        kind_of_event = event.get("type")
        raw = event.get("raw_object")
        if not isinstance(raw, dict):
            return
        version = (raw.get("metadata") or {}).get("resourceVersion")
        if isinstance(version, str) and version:
            state.resource_version = version
        if kind_of_event not in ("ADDED", "MODIFIED", "DELETED"):
            return  # BOOKMARK only moves the resourceVersion on
        obj = strip_object(raw, state.api)
        key = _key(obj)
        if key is None:
            return
        with self._lock:
            if kind_of_event == "DELETED":
                changed = state.objects.pop(key, None) is not None
            else:
                changed = state.objects.get(key) != obj
                if changed:
                    state.objects[key] = obj
            if len(state.objects) > self.max_objects:
                raise _Overflow
            if changed:
                self._changed(state)

    def _replace(self, state: _KindState, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        with self._lock:
            changed = objects != state.objects or not state.synced
            state.objects = objects
            state.listed = True
            state.synced = True
            if changed:
                self._changed(state)

    def _overflow(self, state: _KindState) -> None:
        with self._lock:
            changed = state.synced or bool(state.objects)
            state.objects = {}
            state.listed = True  # readiness must not wait for a kind we have given up on
            state.synced = False
            if changed:
                self._changed(state)
        log_event(
            "inventory_too_large",
            kind=state.api.kind,
            max_objects=self.max_objects,
            consequence="policies that read this kind report it as not synced",
            retry_in=self.overflow_retry_seconds,
            level=logging.ERROR,
        )

    def _changed(self, state: _KindState) -> None:
        """Record a change; the caller holds the lock."""
        self._version += 1
        kind = state.api.kind
        self.metrics.inventory_objects.labels(kind=kind).set(len(state.objects))
        self.metrics.inventory_synced.labels(kind=kind).set(1 if state.synced else 0)

    # -- the API server ----------------------------------------------------------------------

    def _get_json(self, api: KindApi, **params: Any) -> dict[str, Any]:
        response = self._request(api, _request_timeout=self.request_timeout, **params)
        try:
            body = json.loads(response.data)
        finally:
            response.release_conn()
        if not isinstance(body, dict):
            raise ValueError(f"{api.path}: the API server answered with {type(body).__name__}, not a list object")
        return body

    def _request(
        self,
        api: KindApi,
        *,
        limit: int | None = None,
        _continue: str | None = None,
        resource_version: str | None = None,
        allow_watch_bookmarks: bool | None = None,
        timeout_seconds: int | None = None,
        watch: bool | None = None,
        _preload_content: bool = False,
        _request_timeout: Any = None,
    ) -> Any:
        """GET the kind's collection through the client's transport; return the unread urllib3 response."""
        from kubernetes.client.exceptions import ApiException

        # The generated typed APIs serialise their requests exactly so; going through
        # param_serialize/call_api lets one code path serve every kind of the table.
        query: list[tuple[str, Any]] = []
        for name, value in (
            ("limit", limit),
            ("continue", _continue),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", allow_watch_bookmarks),
            ("timeoutSeconds", timeout_seconds),
            ("watch", watch),
        ):
            if value is not None:
                query.append((name, value))
        request = self._client.param_serialize(
            "GET",
            api.path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self._client.call_api(*request, _request_timeout=_request_timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response


__all__ = ["KNOWN_KINDS", "InventorySync", "KindApi", "resolve_kind", "strip_object"]
