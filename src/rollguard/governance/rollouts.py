"""Rollouts in the decision store: their start and finish records, and which are still open."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rollguard.audit.record import RECORD_SCHEMA, ChangeIdentity, StoredRecord, format_time
from rollguard.model import Resource

SOURCE = "rollout"
Event = Literal["start", "finish"]


@dataclass(frozen=True)
class Rollout:
    """A rollout as recorded: its id, environment, workloads (`{kind, namespace, name}`), namespaces and
    simulated duration in seconds (None when unknown)."""

    id: str
    environment: str
    workloads: tuple[Mapping[str, str], ...] = ()
    namespaces: tuple[str, ...] = ()
    duration_seconds: float | None = None

    def to_json(self, event: Event) -> dict[str, Any]:
        """The `rollout` object of a record: what started (or finished)."""
        namespaces = sorted({*self.namespaces, *(w["namespace"] for w in self.workloads)})
        return {
            "id": self.id,
            "event": event,
            "workloads": [dict(w) for w in self.workloads],
            "namespaces": namespaces,
            "duration_seconds": self.duration_seconds,
        }


def rollout_of(
    workloads: Iterable[Mapping[str, Any]], *, rollout_id: str, environment: str, duration_seconds: float | None
) -> Rollout:
    """The rollout a change of `workloads` (records' `{kind, namespace, name, ...}`) starts."""
    kept = tuple({"kind": str(w["kind"]), "namespace": str(w["namespace"]), "name": str(w["name"])} for w in workloads)
    return Rollout(id=rollout_id, environment=environment, workloads=kept, duration_seconds=duration_seconds)


def rollout_body(
    rollout: Rollout,
    event: Event,
    *,
    when: dt.datetime,
    actor: str | None,
    commit: str | None = None,
    run_id: str | None = None,
    ci: Mapping[str, str] | None = None,
    rollguard_version: str = "unknown",
) -> dict[str, Any]:
    """The record of `rollout`'s start or finish: the fields every decision has (docs/decision-log.md), a
    passing verdict with no findings, and `rollout`. No `workloads`: a rollout record deploys nothing."""
    resources = [
        Resource("rollguard.dev/v1", "Rollout", None, rollout.id).to_json(),
    ]
    return {
        "schema": RECORD_SCHEMA,
        "time": format_time(when),
        "source": SOURCE,
        "environment": rollout.environment,
        "actor": actor,
        "change": ChangeIdentity(
            commit=commit, run_id=run_id, description=f"rollout {rollout.id} {event}", ci=ci
        ).to_json(),
        "dry_run": False,
        "verdict": "pass",
        "exit_code": 0,
        "engine": SOURCE,
        "rollguard_version": rollguard_version,
        "bundle_digest": None,
        "config_digest": None,
        "policies": [],
        "resources": resources,
        "workloads": [],
        "approval": None,
        "summary": {
            "resources": 1,
            "policies": 0,
            "findings": 0,
            "blocking": 0,
            "waived": 0,
            "errors": 0,
            "input_errors": 0,
            "unjudged": 0,
            "by_severity": {s: 0 for s in ("critical", "high", "medium", "low", "info")},
            "fail_on": "high",
        },
        "findings": [],
        "waivers": [],
        "errors": [],
        "rollout": rollout.to_json(event),
    }


def open_rollouts(records: Iterable[StoredRecord], *, exclude: str | None = None) -> tuple[dict[str, Any], ...]:
    """Rollouts started in `records` (chain order, one environment, passed decisions) with no later finish.

    Each is `{id, environment, workloads, namespaces, duration_seconds, started, started_ns, actor, seq}`;
    whether it is still running by the decision time is governance.concurrent_rollouts' to judge.
    `exclude` is the id of the rollout being checked, which never conflicts with itself.
    """
    started: dict[str, dict[str, Any]] = {}
    for record in records:
        entry = record.body.get("rollout")
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str) or entry["id"] == exclude:
            continue
        if entry.get("event") == "finish":
            started.pop(entry["id"], None)
        elif entry.get("event") == "start":
            started[entry["id"]] = _open(entry, record)
    return tuple(sorted(started.values(), key=lambda r: (r["started"], r["id"])))


def _open(entry: Mapping[str, Any], record: StoredRecord) -> dict[str, Any]:
    when = dt.datetime.strptime(record.time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    duration = entry.get("duration_seconds")
    return {
        "id": entry["id"],
        "environment": record.environment,
        "workloads": [dict(w) for w in _objects(entry.get("workloads"))],
        "namespaces": [n for n in entry.get("namespaces") or [] if isinstance(n, str)],
        "duration_seconds": duration if isinstance(duration, int | float) and not isinstance(duration, bool) else None,
        "started": record.time,
        "started_ns": int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000,
        "actor": record.body.get("actor"),
        "seq": record.seq,
    }


def _objects(value: object) -> Sequence[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
