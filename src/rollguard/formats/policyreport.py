"""PolicyReports (`wgpolicyk8s.io/v1alpha2`), the reports Kyverno users read: one per namespace.

A ClusterPolicyReport holds the results of cluster-scoped objects. Every judged resource gets
one result per applicable policy: its findings (`fail`, `warn` when not enforced, `skip` when
waived, `error` when the policy could not be evaluated) or a `pass` as evidence that the
policy was checked and held.

Unlike the other formats it is written while objects are judged, not rendered from a finished
`Decision`: pass results need every judged resource and the policies that apply to its kind,
which a decision does not carry, and a cluster audit writes each namespace's report as soon as
the namespace is judged instead of building one document for the whole cluster in memory. Its
`FORMATS` entry is therefore a writer, offered by `audit cluster` only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

import yaml

from rollguard.model import Artifact, Finding, Resource
from rollguard.policy.bundle import PolicyInfo

API_VERSION = "wgpolicyk8s.io/v1alpha2"
SOURCE = "rollguard"
REPORT_NAME = "rollguard"
LABELS = {"app.kubernetes.io/managed-by": "rollguard"}
OUTCOMES = ("pass", "fail", "warn", "error", "skip")

try:
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # libyaml missing: the pure-Python dumper writes the same YAML
    _Dumper = yaml.SafeDumper


def outcome(finding: Finding) -> str:
    """The PolicyReport result for one finding."""
    if finding.error:
        return "error"
    if finding.waived:
        return "skip"
    if finding.enforcement != "deny":
        return "warn"  # warn and dryrun: found, but the policy does not block
    return "fail"


def results(
    artifacts: Iterable[Artifact], findings: Iterable[Finding], *, policies: Sequence[PolicyInfo], now: dt.datetime
) -> dict[str | None, list[dict[str, Any]]]:
    """Results by namespace (None for cluster-scoped objects): the findings, then a pass per silent policy."""
    by_kind: dict[str, list[PolicyInfo]] = {}
    for info in policies:
        for kind in info.applies_to:
            by_kind.setdefault(kind, []).append(info)
    by_id = {p.id: p for p in policies}
    found: dict[Resource, list[Finding]] = {}
    for f in findings:
        found.setdefault(f.resource, []).append(f)
    stamp = {"seconds": int(now.timestamp()), "nanos": now.microsecond * 1000}
    out: dict[str | None, list[dict[str, Any]]] = {}
    for artifact in artifacts:
        r = artifact.resource
        ref = _reference(artifact)
        bucket = out.setdefault(r.namespace, [])
        own = found.get(r, [])
        for f in own:
            bucket.append(_finding_result(f, by_id.get(f.policy), ref, stamp))
        reported = {f.policy for f in own}
        bucket.extend(_pass_result(info, ref, stamp) for info in by_kind.get(r.kind, []) if info.id not in reported)
    return out


def report_document(namespace: str | None, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A PolicyReport for `namespace`, or the ClusterPolicyReport when it is None, with its summary."""
    summary = dict.fromkeys(OUTCOMES, 0)
    for item in items:
        summary[item["result"]] += 1
    metadata: dict[str, Any] = {"name": REPORT_NAME}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(LABELS)
    return {
        "apiVersion": API_VERSION,
        "kind": "PolicyReport" if namespace is not None else "ClusterPolicyReport",
        "metadata": metadata,
        "summary": summary,
        "results": sorted(items, key=_order),
    }


class PolicyReportWriter:
    """Writes a YAML stream of PolicyReports, one per namespace, and the ClusterPolicyReport last.

    `add` takes batches made of whole namespaces (an audit batch never splits one), so each
    namespace's report is written at once and nothing of it stays in memory.
    """

    def __init__(self, out: TextIO, *, policies: Sequence[PolicyInfo], now: dt.datetime) -> None:
        self._out = out
        self._policies = tuple(policies)
        self._now = now
        self._written: set[str] = set()
        self._cluster: list[dict[str, Any]] = []  # cluster-scoped objects are few: RBAC and the like
        self.documents = 0

    def add(self, artifacts: Sequence[Artifact], findings: Sequence[Finding]) -> None:
        """Write the reports of the namespaces in this batch; keep cluster-scoped results for `close`."""
        grouped = results(artifacts, findings, policies=self._policies, now=self._now)
        for namespace in sorted(ns for ns in grouped if ns is not None):
            if namespace in self._written:
                raise ValueError(f"namespace {namespace} was already reported; a batch must hold whole namespaces")
            self._written.add(namespace)
            self._write(report_document(namespace, grouped[namespace]))
        self._cluster.extend(grouped.get(None, []))

    def close(self) -> None:
        """Write the ClusterPolicyReport, if any cluster-scoped object was judged."""
        if self._cluster:
            self._write(report_document(None, self._cluster))
            self._cluster = []

    def _write(self, document: Mapping[str, Any]) -> None:
        self._out.write("---\n")
        self._out.write(yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120))
        self.documents += 1


def _reference(artifact: Artifact) -> dict[str, str]:
    """The ObjectReference of a judged object (with its uid when the object has one)."""
    r = artifact.resource
    ref = {"apiVersion": r.api_version, "kind": r.kind}
    if r.namespace:
        ref["namespace"] = r.namespace
    ref["name"] = r.name
    uid = (artifact.document.get("metadata") or {}).get("uid")
    if isinstance(uid, str) and uid:
        ref["uid"] = uid
    return ref


def _finding_result(
    f: Finding, info: PolicyInfo | None, ref: Mapping[str, str], stamp: Mapping[str, int]
) -> dict[str, Any]:
    result = outcome(f)
    properties = {"title": f.title, "controls": ", ".join(f.controls), "enforcement": f.enforcement}
    if f.remediation:
        properties["remediation"] = f.remediation
    if f.details:
        # PolicyReport properties are strings; the details keep their structure as JSON.
        properties["details"] = json.dumps(f.details, sort_keys=True, default=str)
    if f.waiver is not None:
        properties["waiver"] = f.waiver.id
        properties["waiverStatus"] = f.waiver.status
        properties["waiverReason"] = f.waiver.reason
        properties["waiverOwner"] = f.waiver.owner
        properties["waiverExpires"] = f.waiver.expires
        if f.waiver.ticket:
            properties["waiverTicket"] = f.waiver.ticket
    return {
        "source": SOURCE,
        "policy": f.policy,
        "rule": info.name if info is not None else f.policy.rpartition(".")[2],
        "category": _category(info, f.policy),
        "severity": f.severity.label,
        "timestamp": dict(stamp),
        "result": result,
        "scored": result != "warn",
        "resources": [dict(ref)],
        "message": f.message,
        "properties": properties,
    }


def _pass_result(info: PolicyInfo, ref: Mapping[str, str], stamp: Mapping[str, int]) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "policy": info.id,
        "rule": info.name,
        "category": _category(info, info.id),
        "severity": info.severity.label,
        "timestamp": dict(stamp),
        "result": "pass",
        "scored": True,
        "resources": [dict(ref)],
        "message": info.title,
        "properties": {"controls": ", ".join(info.controls)},
    }


def _category(info: PolicyInfo | None, policy: str) -> str:
    """METADATA `custom.category` when a policy sets one, else its domain (`k8s`)."""
    category = info.custom.get("category") if info is not None else None
    return category if isinstance(category, str) and category else policy.partition(".")[0]


def _order(item: Mapping[str, Any]) -> tuple[str, ...]:
    ref = item["resources"][0]
    return (ref["kind"], ref.get("namespace", ""), ref["name"], item["policy"], item["result"], item["message"])
