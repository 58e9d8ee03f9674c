"""Record a decision taken by the gate: the one place that turns a judgement into a log entry."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from rollguard.audit.record import ChangeIdentity, Source, StoredRecord, build_record, canonical_json
from rollguard.audit.store import open_store, redact_url
from rollguard.gate import Gate
from rollguard.kube.workloads import images_of
from rollguard.model import Artifact, Decision, Resource
from rollguard.policy.bundle import PolicyInfo
from rollguard.policy.config import EXTERNAL_POLICY_PREFIXES, Settings


def rollguard_version() -> str:
    """The installed rollguard version (read only when recording: importlib.metadata is slow)."""
    from importlib import metadata

    try:
        return metadata.version("rollguard")
    except metadata.PackageNotFoundError:
        return "unknown"


def config_settings(settings: Settings, policies: Sequence[PolicyInfo]) -> dict[str, Any]:
    """The resolved settings that decide a verdict, as the JSON `config_digest` is taken over.

    Resolved values, not the file's text: each selected policy's parameters and enforcement as
    the gate applies them, the waivers and exceptions that hold in the environment, the
    threshold and the environment's schedule. Reformatting rollguard.yaml (or moving a
    setting from a glob to the policy's own id) changes none of it; changing what decides does.
    Facts of one run (`--approval`, the store's history) are not settings and are left out.
    """
    env = settings.environment
    return {
        "environment": env,
        "risk": settings.risk,
        "previous": settings.previous,
        "fail_on": settings.fail_on.label,
        "policies": {
            p.id: {
                "parameters": settings.parameters_of(p),
                "enforcement": settings.enforcement_for(p.id, p.custom.get("enforcement", "deny")),
            }
            for p in policies
        },
        # Scanners' findings (`checkov.*`) are judged by patterns no policy of the bundle has.
        "external_enforcement": [
            [pattern, action]
            for pattern, action in settings.enforcement.items()
            if pattern.startswith(EXTERNAL_POLICY_PREFIXES)
        ],
        "waivers": [
            {
                "id": w.id,
                "policy": w.policy,
                "match": {"kind": w.kind, "namespace": w.namespace, "name": w.name},
                "environments": list(w.environments),
                "reason": w.reason,
                "owner": w.owner,
                "ticket": w.ticket,
                "expires": w.expires.isoformat(),
            }
            for w in settings.waivers
            if not w.environments or env in w.environments
        ],
        "vulnerability_exceptions": [
            {k: v for k, v in e.to_json().items() if k != "expires_ns"} for e in settings.vulnerability_exceptions
        ],
        "windows": [dataclasses.asdict(w) for w in settings.windows],
        "freezes": [
            {"from": f.first.isoformat(), "to": f.last.isoformat(), "reason": f.reason, "timezone": f.timezone}
            for f in settings.freezes
        ],
        "dependencies": {consumer: list(needs) for consumer, needs in settings.dependencies.items()},
        "risks": dict(settings.risks),
        "pipeline_environments": [[name, list(patterns)] for name, patterns in settings.pipeline_environments],
    }


def config_digest(settings: Settings, policies: Sequence[PolicyInfo]) -> str:
    """`sha256:` over the canonical JSON of `config_settings`: which configuration was in force."""
    text = canonical_json(config_settings(settings, policies))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_decision(
    store_url: str,
    decision: Decision,
    *,
    gate: Gate,
    artifacts: Sequence[Artifact],
    source: Source,
    when: dt.datetime,
    actor: str | None,
    commit: str | None = None,
    run_id: str | None = None,
    dry_run: bool = False,
    resources: Sequence[Resource] | None = None,
    images: Sequence[str] | None = None,
    description: str | None = None,
    ci: Mapping[str, str] | None = None,
    rollout: Mapping[str, Any] | None = None,
) -> StoredRecord:
    """Append `decision` to the store at `store_url` and return the stored record.

    A cluster audit keeps no artifacts: it passes the judged `resources` and the `images`
    they run instead, and a `description` of what was audited. `ci` is the CI run's own
    account of itself (`audit.record.ci_run`), from which the report links commit and run.
    `rollout` marks the decision as a rollout's start (`governance.rollouts.Rollout.to_json`).
    """
    change = ChangeIdentity(
        commit=commit,
        run_id=run_id,
        images=tuple(images) if images is not None else tuple(sorted(images_of(a.document for a in artifacts))),
        description=description,
        ci=ci,
    )
    body = build_record(
        decision,
        source=source,
        when=when,
        policies=gate.policies,
        artifacts=artifacts,
        bundle_digest=f"sha256:{gate.bundle.digest}",
        rollguard_version=rollguard_version(),
        change=change,
        actor=actor,
        dry_run=dry_run,
        resources=resources,
        config_digest=config_digest(gate.settings, gate.policies),
    )
    if rollout is not None:
        body["rollout"] = dict(rollout)
    with open_store(store_url) as store:
        return store.append(body)


def recorded_json(stored: StoredRecord, store_url: str) -> dict[str, Any]:
    """Where a decision was recorded and the chain head it made: the `record` field of `check --format json`.

    Keeping `head.hash` somewhere the log's writers cannot change anchors the log
    (`rollguard audit verify --expect-head`).
    """
    return {
        "store": redact_url(store_url),
        "seq": stored.seq,
        "hash": stored.hash,
        "recorded_at": stored.recorded_at,
        "head": {"seq": stored.seq, "hash": stored.hash},
    }


def recorded_line(stored: StoredRecord, store_url: str) -> str:
    """The one line `--record` prints on stderr: the record and the chain head to anchor."""
    return (
        f"rollguard: recorded decision {stored.seq} in {redact_url(store_url)}; chain head {stored.seq} {stored.hash}"
    )
