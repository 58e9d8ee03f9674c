"""What the decision store knows about earlier deployments and open rollouts, for the governance policies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rollguard.audit.record import History, StoredRecord
from rollguard.audit.store import NoDecisionLog, open_store
from rollguard.errors import StoreError
from rollguard.governance.rollouts import open_rollouts


def passed_digests(records: Iterable[StoredRecord]) -> tuple[str, ...]:
    """Every image digest in the `change.images` of `records`, sorted, without repeats."""
    digests: set[str] = set()
    for record in records:
        change = record.body.get("change")
        images = change.get("images") if isinstance(change, Mapping) else None
        for image in images if isinstance(images, list) else []:
            digest = image.get("digest") if isinstance(image, Mapping) else None
            if isinstance(digest, str) and digest:
                digests.add(digest)
    return tuple(sorted(digests))


def latest_versions(records: Iterable[StoredRecord]) -> tuple[dict[str, Any], ...]:
    """The newest `{kind, namespace, name, version, images, time}` of each workload in `records`."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records:  # chain order: a later record replaces an earlier one
        workloads = record.body.get("workloads")
        for w in workloads if isinstance(workloads, list) else []:
            if not isinstance(w, Mapping) or not all(isinstance(w.get(k), str) for k in ("kind", "namespace", "name")):
                continue
            latest[(w["kind"], w["namespace"], w["name"])] = {
                "kind": w["kind"],
                "namespace": w["namespace"],
                "name": w["name"],
                "version": w.get("version"),
                "images": list(w.get("images") or []),
                "time": record.time,
            }
    return tuple(latest[key] for key in sorted(latest))


def read_history(store_url: str, *, environment: str, previous: str | None, rollout_id: str | None = None) -> History:
    """Passed digests of `previous`, the deployed versions and the open rollouts of `environment` from the store.

    `rollout_id` is the rollout this check starts: its own earlier start is not another rollout.

    A store that does not exist yet holds no decisions. One that cannot be read gives a History
    with the error, so the check still judges and reports (governance.promotion says it could
    not verify) instead of stopping before any report.
    """
    try:
        with open_store(store_url, create=False) as store:
            digests = passed_digests(store.passed(previous)) if previous else ()
            here = list(store.passed(environment))
    except NoDecisionLog as exc:
        # Nothing recorded yet is no history; an emptied file or dropped tables is an error.
        return History() if exc.absent else History(error=str(exc))
    except StoreError as exc:
        return History(error=str(exc))
    return History(
        passed_digests=digests,
        deployed=latest_versions(here),
        rollouts=open_rollouts(here, exclude=rollout_id),
    )
