"""Stable identities of findings, shared by SARIF's alerts and baseline files so both follow a finding alike."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from rollguard.model import Finding

# The details that say where in its resource a finding is: the container and field of a
# Kubernetes object (and its JSON path), a pipeline job, a Terraform resource address, a migration's table and
# column, a scan report's vulnerability, package and target. Never a line or a statement number,
# which move when the file is edited, and never the message, whose wording may change.
PLACE_KEYS = ("container", "field", "path", "job", "address", "table", "column", "id", "package", "target")

# The name of the fingerprint in SARIF's `partialFingerprints`; a new version when its recipe changes.
FINGERPRINT_KEY = "rollguardFinding/v2"


def fingerprints(findings: Iterable[Finding]) -> list[str]:
    """One fingerprint per finding, in order, stable across runs so a finding keeps its identity.

    Built from the policy, the resource's identity and the finding's place in it (`PLACE_KEYS`),
    so an edit that moves the resource to other lines keeps it. Findings that these do not
    tell apart are numbered in report order, as CodeQL numbers equal line hashes.
    """
    seen: dict[str, int] = {}
    out = []
    for finding in findings:
        key = _key(finding)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key += f"\0#{seen[key]}"
        out.append(hashlib.sha256(key.encode("utf-8")).hexdigest())
    return out


def _key(finding: Finding) -> str:
    r = finding.resource
    place = [_place_value(finding.details.get(k)) for k in PLACE_KEYS]
    return "\0".join([finding.policy, r.api_version, r.kind, r.namespace or "", r.name, *place])


def _place_value(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
