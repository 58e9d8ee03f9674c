"""Waivers applied to findings: a pure function of the findings, the artifacts, the waivers and the time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from rollguard.model import AppliedWaiver, Artifact, Finding, InputProblem, Resource
from rollguard.policy.config import Waiver

WAIVE_ANNOTATION = "rollguard.io/waive."


def apply_waivers(
    findings: Sequence[Finding],
    artifacts: Sequence[Artifact],
    *,
    waivers: Sequence[Waiver],
    now: dt.datetime,
    environment: str | None,
) -> tuple[list[Finding], list[InputProblem]]:
    """Each finding with the waiver that covers it (applied, or expired on `now`), and the problems met.

    A `rollguard.io/waive.<policy>` annotation on an object points at a waiver by id; an
    annotation naming no waiver, or one for another policy, is an input problem. Otherwise
    the first waiver of rollguard.yaml that matches the finding's policy, resource and
    environment covers it. Findings that record an evaluation error are never waived.
    """
    problems: list[InputProblem] = []
    by_id = {w.id: w for w in waivers}
    # By file and resource, not line: a finding is at the line of its field, not of its document.
    annotated: dict[tuple[str, Resource, str], Waiver] = {}
    for a in artifacts:
        annotations = (a.document.get("metadata") or {}).get("annotations") or {}
        if not isinstance(annotations, dict):
            continue
        for key, value in annotations.items():
            if not isinstance(key, str) or not key.startswith(WAIVE_ANNOTATION):
                continue
            pid = key[len(WAIVE_ANNOTATION) :]
            waiver = by_id.get(str(value))
            if waiver is None:
                problems.append(
                    InputProblem(
                        a.file,
                        a.line,
                        f"annotation {key} names waiver {value!r}, which rollguard.yaml does not define; add the waiver (with reason, owner and expiry) or remove the annotation",
                    )
                )
            elif waiver.policy != pid:
                problems.append(
                    InputProblem(
                        a.file,
                        a.line,
                        f"annotation {key} names waiver {value!r}, which is for policy {waiver.policy}",
                    )
                )
            else:
                annotated[(a.file, a.resource, pid)] = waiver
    out = []
    for f in findings:
        if f.error:
            out.append(f)
            continue
        waiver = annotated.get((f.file or "", f.resource, f.policy)) or next(
            (w for w in waivers if w.matches(f.policy, f.resource, environment=environment)),
            None,
        )
        if waiver is None:
            out.append(f)
        else:
            status: Literal["applied", "expired"] = "expired" if waiver.expired(on=now) else "applied"
            out.append(replace(f, waiver=applied(waiver, status)))
    return out, problems


def applied(w: Waiver, status: Literal["applied", "expired"]) -> AppliedWaiver:
    """The `waiver` a finding carries (or an expired waiver the decision lists)."""
    return AppliedWaiver(
        id=w.id,
        status=status,
        reason=w.reason,
        owner=w.owner,
        ticket=w.ticket,
        expires=w.expires.isoformat(),
    )
