"""Record a decision taken by the gate: the one place that turns a judgement into a log entry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from rollguard.audit.record import ChangeIdentity, Source, StoredRecord, build_record
from rollguard.audit.store import open_store, redact_url
from rollguard.gate import Gate
from rollguard.kube.workloads import images_of
from rollguard.model import Artifact, Decision, Resource


def rollguard_version() -> str:
    """The installed rollguard version (read only when recording: importlib.metadata is slow)."""
    from importlib import metadata

    try:
        return metadata.version("rollguard")
    except metadata.PackageNotFoundError:
        return "unknown"


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
) -> StoredRecord:
    """Append `decision` to the store at `store_url` and return the stored record.

    A cluster audit keeps no artifacts: it passes the judged `resources` and the `images`
    they run instead, and a `description` of what was audited.
    """
    change = ChangeIdentity(
        commit=commit,
        run_id=run_id,
        images=tuple(images) if images is not None else tuple(sorted(images_of(a.document for a in artifacts))),
        description=description,
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
    )
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
