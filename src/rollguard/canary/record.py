"""A canary judgement as a decision record (source `canary`), with the metric evidence, in the decision store."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollguard.audit.record import RECORD_SCHEMA, ChangeIdentity, StoredRecord, canonical_json, format_time
from rollguard.audit.store import open_store
from rollguard.canary.result import Judgement, MetricResult
from rollguard.errors import ConfigError
from rollguard.model import Resource

SOURCE = "canary"
# The threshold a canary record is judged at: a critical metric's failure (and a score below
# the thresholds) is a `critical`/`high` finding and blocks; another metric's failure is a
# `medium` finding, shown but weighed only through the score.
FAIL_ON = "high"
DEFAULT_TARGET = Resource("rollguard.dev/v1", "Canary", None, "canary")


@dataclass(frozen=True)
class RecordContext:
    """Who and what a recorded judgement is about: the workload, the environment and the CI identity."""

    when: dt.datetime
    actor: str | None = None
    commit: str | None = None
    run_id: str | None = None
    environment: str | None = None
    target: Resource = DEFAULT_TARGET
    ci: Mapping[str, str] | None = None
    rollguard_version: str = "unknown"


def workload_resource(value: str, *, what: str = "--workload") -> Resource:
    """`KIND/NAMESPACE/NAME` (or KIND/NAME for a cluster-wide kind) as a Resource; the kind must be known."""
    from rollguard.kube.kinds import KINDS

    parts = value.split("/")
    api = KINDS.get(parts[0])
    if len(parts) not in (2, 3) or not all(parts) or api is None:
        raise ConfigError(f"{what} {value!r}: write KIND/NAMESPACE/NAME with a known kind, e.g. Deployment/shop/web")
    return Resource(api.api_version, api.kind, parts[1] if len(parts) == 3 else None, parts[-1])


def _finding(m: MetricResult, target: Resource) -> dict[str, Any]:
    severity = "critical" if m.spec.critical else "medium"
    what = "had no data" if m.outcome == "nodata" else f"is {m.classification}er than the baseline allows"
    return {
        "policy": f"canary.{m.spec.name}",
        "title": f"Canary metric {m.spec.name}",
        "severity": severity,
        "message": f"{m.spec.name} {what}: {m.reason}",
        "resource": target.to_json(),
        "enforcement": "deny",
        "controls": [],
        "waiver": None,
    }


def record_body(
    judgement: Judgement,
    context: RecordContext,
    *,
    fail_on_marginal: bool = False,
    watch: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record's JSON content: the fields every decision has (docs/decision-log.md), and `canary` with the evidence
    (and, from `canary watch`, `canary.watch`: how many judgements were made and the rollback run)."""
    exit_code = judgement.exit_code(fail_on_marginal=fail_on_marginal)
    findings = [_finding(m, context.target) for m in judgement.metrics if m.outcome != "pass"]
    if exit_code != 0 and not any(m.spec.critical and m.outcome != "pass" for m in judgement.metrics):
        findings.append(
            {
                "policy": "canary.score",
                "title": "Canary score",
                "severity": "high",
                "message": "; ".join(judgement.reasons),
                "resource": context.target.to_json(),
                "enforcement": "deny",
                "controls": [],
                "waiver": None,
            }
        )
    by_severity = {s: 0 for s in ("critical", "high", "medium", "low", "info")}
    for f in findings:
        by_severity[f["severity"]] += 1
    blocking = sum(1 for f in findings if f["severity"] in ("critical", "high"))
    evidence = judgement.to_json(fail_on_marginal=fail_on_marginal)
    settings = judgement.config.to_json()
    return {
        "schema": RECORD_SCHEMA,
        "time": format_time(context.when),
        "source": SOURCE,
        "environment": context.environment,
        "actor": context.actor,
        "change": ChangeIdentity(commit=context.commit, run_id=context.run_id, ci=context.ci).to_json(),
        "dry_run": False,
        "verdict": "pass" if exit_code == 0 else "fail",
        "exit_code": exit_code,
        "engine": "canary",
        "rollguard_version": context.rollguard_version,
        "bundle_digest": None,
        "config_digest": "sha256:" + hashlib.sha256(canonical_json(settings).encode("utf-8")).hexdigest(),
        "policies": [],
        "resources": [context.target.to_json()],
        "workloads": [],
        "approval": None,
        "summary": {
            "resources": 1,
            "policies": 0,
            "findings": len(findings),
            "blocking": blocking,
            "waived": 0,
            "errors": 0,
            "input_errors": 0,
            "unjudged": 0,
            "by_severity": by_severity,
            "fail_on": FAIL_ON,
        },
        "findings": findings,
        "waivers": [],
        "errors": [],
        "canary": {**evidence, "settings": settings, **({"watch": dict(watch)} if watch is not None else {})},
    }


def record_judgement(
    store_url: str,
    judgement: Judgement,
    context: RecordContext,
    *,
    fail_on_marginal: bool = False,
    watch: Mapping[str, Any] | None = None,
) -> StoredRecord:
    """Append the judgement to the store at `store_url` and return the stored record."""
    with open_store(store_url) as store:
        return store.append(record_body(judgement, context, fail_on_marginal=fail_on_marginal, watch=watch))
