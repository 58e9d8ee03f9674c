"""Audit a live cluster: page through its objects with the official client and judge them in batches.

Memory stays flat as the cluster grows. Every kind is listed cluster-wide with `limit` and
`continue`, and the API server returns each list in its storage-key order (`namespace/name`),
because a continue token is "the key after which to resume" (the order is checked, and a list
out of order stops the audit). Merging the lists of all kinds by that key yields the objects
of one namespace together, so a batch is a run of whole namespaces of about one page. It is
judged in one engine call with an inventory built from the batch alone: the cross-object
policies only look within the reviewed object's namespace, at that namespace's Namespace
object and at cluster-scoped objects they declare they read (a ClusterAnalysisTemplate; a test
holds the policies to that), so each batch gets the findings `rollguard check` would give on
all objects at once. Only findings are kept, never objects; the Namespace objects (one per
namespace) and the cluster-scoped objects the policies read are the only ones held for the
whole run. Memory is bounded by a page per kind plus the largest namespace, not by the size of
the cluster.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from rollguard.contract import build_inventory
from rollguard.errors import ClusterError, ConfigError, one_line
from rollguard.gate import Gate
from rollguard.kube.connect import connect as open_connection
from rollguard.kube.connect import kubernetes_module
from rollguard.kube.workloads import images_of
from rollguard.model import Artifact, ChangeSet, Decision, Finding, InputProblem, Resource

if TYPE_CHECKING:
    from rollguard.formats import BatchWriter

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 500  # kubectl's chunk size
# (connect, read) seconds for list and get calls: a stuck server must not hang an audit.
REQUEST_TIMEOUT = (10, 120)
# A continue token expires when a list takes longer than etcd's compaction interval (5 min by
# default); restarting more than this often means the audit cannot keep up with the server.
MAX_RELISTS = 3

# Server bookkeeping that no policy reads, and often the bulk of an object's metadata.
_DROPPED_METADATA = ("managedFields",)


class ApiResource(NamedTuple):
    """One listable API resource as discovery describes it."""

    group_version: str
    kind: str
    plural: str
    namespaced: bool
    handle: Any  # the client's Resource, which builds the request paths

    def path(self, *, name: str | None = None, namespace: str | None = None) -> str:
        """The API path of the collection, or of one object when `name` is given."""
        return str(self.handle.path(name=name, namespace=namespace))


@dataclass
class ListStats:
    """What listing cost: pages fetched and lists restarted after an expired continue token."""

    pages: int = 0
    relists: int = 0
    skipped_after_relist: int = 0


class Cluster:
    """One API server reached through the official client: discovery, paged lists and GETs."""

    def __init__(self, api_client: Any, *, name: str, namespace: str | None) -> None:
        self.name = name
        self.namespace = namespace  # the context's default namespace
        self.stats = ListStats()
        self._api = api_client
        # The client caches discovery in a file; a private one per run never serves another
        # cluster's (or an older run's) answer and goes away with the connection.
        self._cache = tempfile.TemporaryDirectory(prefix="rollguard-discovery-")
        self._by_kind: dict[str, list[ApiResource]] | None = None
        self._by_version: dict[tuple[str, str], ApiResource] = {}
        cache_file = os.path.join(self._cache.name, "discovery.json")
        dynamic = kubernetes_module("dynamic")
        self._dynamic = self._call(
            "read the API server version", lambda: dynamic.DynamicClient(api_client, cache_file=cache_file)
        )

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool and the discovery cache."""
        self._api.close()
        self._cache.cleanup()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one client call, turning its exceptions into a one-line ClusterError."""
        import urllib3

        api_exception = kubernetes_module("client.exceptions").ApiException
        try:
            return fn()
        except api_exception as exc:
            raise ClusterError(f"{what}: {_api_reason(exc)} ({self.name})") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise ClusterError(f"cannot reach the API server of {self.name}: {_network_reason(exc)}") from exc
        except ValueError as exc:  # the client's own complaints (a bad host URL) and malformed JSON
            raise ClusterError(f"{what}: {one_line(exc)} ({self.name})") from exc

    def _discover(self) -> None:
        resource_list = kubernetes_module("dynamic.resource").ResourceList
        entries = self._call("discover the API resources", lambda: list(self._dynamic.resources))
        found: dict[tuple[str, str], list[Any]] = {}
        for entry in entries:
            for res in entry if isinstance(entry, list) else [entry]:
                # Lists, subresources (deployments/scale) and unlistable kinds are no inputs.
                if isinstance(res, resource_list) or "/" in res.name or "list" not in (res.verbs or []):
                    continue
                found.setdefault((res.group or "", res.kind), []).append(res)
                self._by_version[(res.group_version, res.kind)] = _api_resource(res)
        by_kind: dict[str, list[ApiResource]] = {}
        for (_, kind), candidates in sorted(found.items()):
            # The group's preferred version, as kubectl picks; else any version that serves it.
            best = next((r for r in candidates if r.preferred), candidates[0])
            by_kind.setdefault(kind, []).append(_api_resource(best))
        self._by_kind = by_kind

    def resources_for(self, kind: str) -> list[ApiResource]:
        """The resources serving `kind`, one per API group, in its preferred version."""
        if self._by_kind is None:
            self._discover()
        assert self._by_kind is not None
        return self._by_kind.get(kind, [])

    def resource(self, api_version: str, kind: str) -> ApiResource | None:
        """The resource serving `kind` in exactly `api_version`, or None."""
        if self._by_kind is None:
            self._discover()
        return self._by_version.get((api_version, kind))

    def get(self, resource: ApiResource, *, name: str, namespace: str | None) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        not_found = kubernetes_module("dynamic.exceptions").NotFoundError
        where = f"{namespace}/{name}" if resource.namespaced and namespace else name
        try:
            response = self._call(
                f"get {resource.kind} {where}",
                lambda: self._dynamic.get(
                    resource.handle,
                    name=name,
                    namespace=namespace if resource.namespaced else None,
                    serialize=False,
                    _request_timeout=REQUEST_TIMEOUT,
                ),
            )
        except ClusterError as exc:
            if isinstance(exc.__cause__, not_found):
                return None
            raise
        doc = self._json(response, f"get {resource.kind} {where}")
        return doc

    def list_objects(self, resource: ApiResource, *, namespace: str | None, page_size: int) -> Iterator[dict[str, Any]]:
        """Every object of `resource` in key order, one page in memory at a time.

        An expired continue token (410 Gone) restarts the list from the beginning; objects up
        to the last key already returned are skipped, so none is returned twice.
        """
        gone = kubernetes_module("dynamic.exceptions").GoneError
        what = f"list {resource.plural}" + (f" in namespace {namespace}" if namespace else "")
        token: str | None = None
        last: str | None = None
        resumed_after: str | None = None
        relists = 0
        while True:
            try:
                response = self._call(
                    what,
                    functools.partial(
                        self._dynamic.get,
                        resource.handle,
                        namespace=namespace if resource.namespaced else None,
                        limit=page_size,
                        _continue=token,
                        serialize=False,
                        _request_timeout=REQUEST_TIMEOUT,
                    ),
                )
            except ClusterError as exc:
                if not isinstance(exc.__cause__, gone) or token is None or relists >= MAX_RELISTS:
                    raise
                relists += 1
                self.stats.relists += 1
                token, resumed_after = None, last
                continue
            self.stats.pages += 1
            page = self._json(response, what)
            items = _typed_items(page, resource)
            # Keys ascend across pages (that is what a continue token means); sorting the page
            # costs little and spares relying on the order inside one.
            items.sort(key=object_key)
            for item in items:
                key = object_key(item)
                if resumed_after is not None and key <= resumed_after:
                    self.stats.skipped_after_relist += 1
                    continue
                if last is not None and key <= last:
                    raise ClusterError(
                        f"{what}: the API server returned {key} after {last}, out of key order; "
                        f"rollguard needs paged lists in key order ({self.name})"
                    )
                last = key
                yield item
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return

    def _json(self, response: Any, what: str) -> dict[str, Any]:
        try:
            doc = json.loads(response.data)
        except ValueError as exc:
            raise ClusterError(f"{what}: the API server sent invalid JSON ({exc}) ({self.name})") from exc
        if not isinstance(doc, dict):
            raise ClusterError(f"{what}: the API server sent {type(doc).__name__}, not an object ({self.name})")
        return doc


def _api_resource(res: Any) -> ApiResource:
    return ApiResource(res.group_version, res.kind, res.name, bool(res.namespaced), res)


def _typed_items(page: Mapping[str, Any], resource: ApiResource) -> list[dict[str, Any]]:
    """The items of a list response, each given apiVersion and kind as Kubernetes clients do."""
    # Items of a list omit apiVersion and kind; they are the list's, without the `List` suffix.
    api_version = page.get("apiVersion") if isinstance(page.get("apiVersion"), str) else resource.group_version
    list_kind = page.get("kind")
    kind = list_kind[: -len("List")] if isinstance(list_kind, str) and list_kind.endswith("List") else resource.kind
    items = page.get("items")
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
            continue
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
        for key in _DROPPED_METADATA:
            item["metadata"].pop(key, None)
        out.append(item)
    return out


def object_key(obj: Mapping[str, Any]) -> str:
    """The object's storage key as the API server orders lists: `namespace/name`, or `name`."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


def _api_reason(exc: Any) -> str:
    """`403 Forbidden: <the Status message>` from an API error, on one line."""
    message = ""
    body = getattr(exc, "body", None)
    if body:
        try:
            status = json.loads(body)
            message = str(status.get("message") or "") if isinstance(status, dict) else ""
        except (ValueError, TypeError):
            message = str(body)[:200]
    code = getattr(exc, "status", None)
    head = f"{code} {exc.reason}" if code else str(exc.reason)
    return one_line(f"{head}: {message}" if message else head)


def _network_reason(exc: Exception) -> str:
    """The innermost reason of a connection failure, e.g. `Connection refused`."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).rsplit(": ", 1)[-1]
    if text.startswith("[Errno") and "] " in text:
        text = text.split("] ", 1)[1]
    return one_line(text) or type(reason).__name__


def connect(*, kubeconfig: str | None, context: str | None) -> Cluster:
    """Open the cluster of a kubeconfig context (default: the current one), or in-cluster credentials."""
    connection = open_connection(kubeconfig, context)
    return Cluster(connection.client, name=connection.name, namespace=connection.namespace)


# --- the audit ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditScope:
    """What to audit: one namespace or all, which kinds, and how many objects a page holds."""

    namespace: str | None = None
    kinds: tuple[str, ...] = ()  # empty: every kind a selected policy judges
    page_size: int = DEFAULT_PAGE_SIZE
    include_owned: bool = False


@dataclass
class AuditStats:
    """Counts that describe an audit run, for the one-line summary on stderr."""

    cluster: str
    listed: int = 0
    judged: int = 0
    owned_skipped: int = 0
    batches: int = 0
    namespaces: int = 0
    kinds: tuple[str, ...] = ()
    not_served: tuple[str, ...] = ()
    listing: ListStats = field(default_factory=ListStats)

    def describe(self) -> str:
        """One line: what was judged, from where, and what listing cost."""
        text = (
            f"judged {self.judged} of {self.listed} objects listed ({len(self.kinds)} kinds,"
            f" {self.namespaces} namespaces) from {self.cluster} in {self.listing.pages} pages"
        )
        if self.owned_skipped:
            text += f"; {self.owned_skipped} skipped, their controllers judged instead"
        if self.listing.relists:
            text += f"; {self.listing.relists} list(s) restarted after an expired continue token"
        if self.not_served:
            text += f"; not served by the cluster: {', '.join(self.not_served)}"
        return text


@dataclass(frozen=True)
class AuditReport:
    """The decision of an audit, its counts, and (when asked) what a decision record needs."""

    decision: Decision
    stats: AuditStats
    resources: tuple[Resource, ...] = ()
    images: tuple[str, ...] = ()


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """`Deployment,StatefulSet` as a tuple of kinds; empty for None."""
    if not text:
        return ()
    return tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))


class _Listed(NamedTuple):
    """A listed object with its merge key and the resource it came from (never compared)."""

    key: str
    source: int
    obj: dict[str, Any]


def audit_cluster(
    cluster: Cluster,
    gate: Gate,
    scope: AuditScope,
    *,
    writer: BatchWriter | None = None,
    keep_resources: bool = False,
) -> AuditReport:
    """Judge the live objects `scope` selects with `gate`, batch by batch.

    `writer` (a batch-fed output format, such as PolicyReports) gets every judged batch and is
    closed at the end; `keep_resources` keeps every judged resource's identity (and the images
    run) for a decision record.
    """
    judged = _judged_kinds(gate, scope)
    needed = inventory_kinds(gate, judged)
    stats = AuditStats(cluster=cluster.name, listing=cluster.stats)
    plan, not_served = _plan(cluster, judged | (needed - {"Namespace"}), scope, read=needed)
    stats.kinds = tuple(sorted({r.kind for r in plan if r.kind in judged}))
    stats.not_served = not_served
    audit = _Audit(gate, judged, stats, writer, include_owned=scope.include_owned, keep_resources=keep_resources)
    # A named namespace is always fetched: a misspelt one must not pass as an empty audit.
    namespaces = _namespaces(cluster, scope) if "Namespace" in needed or scope.namespace else {}

    # Cluster-scoped objects the policies read (templates a namespaced object references) go
    # into every batch's inventory; they are listed even with --namespace.
    shared: list[dict[str, Any]] = []
    for resource in (r for r in plan if not r.namespaced):
        if scope.namespace is not None and resource.kind not in needed:
            continue
        objects = audit.owned_filter(cluster.list_objects(resource, namespace=None, page_size=scope.page_size))
        for chunk in _chunks(((o, resource) for o in objects), scope.page_size):
            shared.extend(o for o, r in chunk if r.kind in needed)
            if scope.namespace is None:
                audit.judge(chunk, namespaces={})

    sources = [r for r in plan if r.namespaced]
    streams = [
        _keyed(audit.owned_filter(cluster.list_objects(r, namespace=scope.namespace, page_size=scope.page_size)), i)
        for i, r in enumerate(sources)
    ]
    for batch, names in _namespace_batches(heapq.merge(*streams), sources, scope.page_size):
        stats.namespaces += len(names)
        audit.judge(batch, namespaces={n: namespaces[n] for n in names if n in namespaces}, shared=shared)
    if writer is not None:
        writer.close()
    return audit.report()


def _judged_kinds(gate: Gate, scope: AuditScope) -> frozenset[str]:
    named = frozenset(gate.dispatch) - {"*"}
    if not scope.kinds:
        return named
    unknown = [k for k in scope.kinds if not gate.policies_for(k)]
    if unknown:
        raise ConfigError(
            f"--kinds: no selected policy judges {', '.join(unknown)}; kinds judged: {', '.join(sorted(named))}"
        )
    return frozenset(scope.kinds)


def inventory_kinds(gate: Gate, judged: Iterable[str]) -> frozenset[str]:
    """The kinds the selected policies read from `data.inventory` when judging `judged` (METADATA `inventory`)."""
    kinds = set(judged)
    return frozenset(k for p in gate.policies for kind in kinds & set(p.applies_to) for k in p.inventory_for(kind))


def _plan(
    cluster: Cluster, kinds: Iterable[str], scope: AuditScope, *, read: frozenset[str] = frozenset()
) -> tuple[list[ApiResource], tuple[str, ...]]:
    """The resources to list, and the kinds to list that the cluster does not serve.

    With --namespace, cluster-scoped resources are listed only when policies `read` them."""
    plan: list[ApiResource] = []
    not_served: list[str] = []
    for kind in sorted(kinds):
        found = cluster.resources_for(kind)
        if not found and kind in scope.kinds:
            raise ClusterError(f"--kinds: the cluster serves no {kind} ({cluster.name})")
        if not found:
            not_served.append(kind)
        if scope.namespace is not None and kind in scope.kinds and not any(r.namespaced for r in found):
            raise ConfigError(f"--kinds: {kind} is cluster-scoped; audit it without --namespace")
        plan.extend(r for r in found if r.namespaced or scope.namespace is None or kind in read)
    return plan, tuple(not_served)


def _namespaces(cluster: Cluster, scope: AuditScope) -> dict[str, Any]:
    """The Namespace objects (policies read their labels), by name."""
    found = cluster.resources_for("Namespace")
    if not found:
        return {}
    resource = found[0]
    if scope.namespace is not None:
        doc = cluster.get(resource, name=scope.namespace, namespace=None)
        if doc is None:
            raise ClusterError(f"namespace {scope.namespace!r} does not exist ({cluster.name})")
        doc.get("metadata", {}).pop("managedFields", None)
        return {scope.namespace: doc}
    return {object_key(o): o for o in cluster.list_objects(resource, namespace=None, page_size=scope.page_size)}


def _keyed(objects: Iterable[dict[str, Any]], source: int) -> Iterator[_Listed]:
    for obj in objects:
        yield _Listed(object_key(obj), source, obj)


def _namespace_batches(
    merged: Iterable[_Listed], sources: Sequence[ApiResource], size: int
) -> Iterator[tuple[list[tuple[dict[str, Any], ApiResource]], list[str]]]:
    """Runs of whole namespaces of at least `size` objects (the last run may be smaller), with their names."""
    batch: list[tuple[dict[str, Any], ApiResource]] = []
    names: list[str] = []
    for namespace, group in itertools.groupby(merged, key=lambda item: _namespace_of(item.obj)):
        batch.extend((item.obj, sources[item.source]) for item in group)
        names.append(namespace)
        if len(batch) >= size:
            yield batch, names
            batch, names = [], []
    if batch:
        yield batch, names


def _namespace_of(obj: Mapping[str, Any]) -> str:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return namespace if isinstance(namespace, str) else ""


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _controlled_by(obj: Mapping[str, Any], kinds: frozenset[str]) -> bool:
    """Whether the object's controller (a Deployment for its ReplicaSets, ...) is of one of `kinds`."""
    owners = (obj.get("metadata") or {}).get("ownerReferences")
    return isinstance(owners, list) and any(
        isinstance(o, dict) and o.get("controller") is True and o.get("kind") in kinds for o in owners
    )


class _Audit:
    """The running state of one audit: the gate, the findings so far and the counts."""

    def __init__(
        self,
        gate: Gate,
        judged: frozenset[str],
        stats: AuditStats,
        writer: BatchWriter | None,
        *,
        include_owned: bool,
        keep_resources: bool,
    ) -> None:
        self.gate = gate
        self.judged = judged
        self.stats = stats
        self.writer = writer
        self.keep_resources = keep_resources
        self.findings: list[Finding] = []
        self.problems: list[InputProblem] = []
        self.resources: list[Resource] = []
        self.images: set[str] = set()
        self.include_owned = include_owned

    def owned_filter(self, objects: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Count every listed object and drop those whose controller is judged too, unless asked to keep them.

        A Deployment's ReplicaSets and Pods repeat its pod template; the owner is judged
        instead, as `check` judges the manifest. Dropping them before the inventory also keeps
        the cross-object policies from counting a workload's pods twice. Objects an unjudged
        kind controls (an operator's StatefulSet) stay: nothing else would judge them.
        """
        for obj in objects:
            self.stats.listed += 1
            if not self.include_owned and _controlled_by(obj, self.judged):
                self.stats.owned_skipped += 1
                continue
            yield obj

    def judge(
        self,
        batch: Sequence[tuple[dict[str, Any], ApiResource]],
        *,
        namespaces: Mapping[str, Any],
        shared: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Judge the objects of one batch in one engine call, with the Namespace objects of the
        batch and the cluster-scoped objects the policies read in the inventory; keep the findings."""
        artifacts = [_artifact(obj, resource) for obj, resource in batch if obj["kind"] in self.judged]
        if not artifacts:
            return
        self.stats.batches += 1
        self.stats.judged += len(artifacts)
        inventory = build_inventory(itertools.chain((obj for obj, _ in batch), namespaces.values(), shared))
        raw = self.gate.evaluate(artifacts, inventory=inventory)
        decided = self.gate.decide(ChangeSet(artifacts=tuple(artifacts)), raw)
        # Line 0 only keeps the waiver annotations of different objects apart in `decide`.
        findings = [replace(f, line=None) for f in decided.findings]
        self.findings.extend(findings)
        self.problems.extend(replace(p, line=None) for p in decided.problems)
        if self.writer is not None:
            self.writer.add(artifacts, findings)
        if self.keep_resources:
            self.resources.extend(a.resource for a in artifacts)
            self.images.update(images_of(a.document for a in artifacts))

    def report(self) -> AuditReport:
        """The decision over every batch judged so far."""
        base = self.gate.decide(ChangeSet(artifacts=()), [])
        self.findings.sort(key=lambda f: (f.file or "", f.policy, f.message))
        decision = replace(
            base, findings=tuple(self.findings), problems=tuple(self.problems), resources=self.stats.judged
        )
        return AuditReport(decision, self.stats, tuple(self.resources), tuple(sorted(self.images)))


def _artifact(obj: dict[str, Any], resource: ApiResource) -> Artifact:
    meta = obj["metadata"]
    namespace = meta.get("namespace") if resource.namespaced else None
    name = str(meta.get("name") or "")
    return Artifact(
        kind="k8s",
        document=obj,
        # The object's API path locates it as a file name locates a manifest, and keeps the
        # objects apart when waiver annotations are matched.
        file=resource.path(name=name, namespace=namespace),
        line=0,
        resource=Resource(api_version=obj["apiVersion"], kind=obj["kind"], namespace=namespace or None, name=name),
    )
