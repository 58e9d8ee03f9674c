"""SARIF 2.1.0 report for GitHub code scanning and other static-analysis viewers."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import metadata
from typing import Any
from urllib.parse import quote

from rollguard.errors import PolicyError
from rollguard.fingerprint import FINGERPRINT_KEY, fingerprints
from rollguard.model import Decision, Finding, InputProblem, Severity
from rollguard.policy.bundle import default_policy_dir, load_bundle

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_LEVEL_ORDER = ("note", "warning", "error")

# GitHub code scanning reads `security-severity` as a score from 0.1 to 10.0 and shows it as a
# band: over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low. A policy has a band, not a
# finer score, so each band gets a value well inside it. Info has no security severity.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
}


def render(decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as a SARIF 2.1.0 log with one run; `color` is ignored."""
    return json.dumps(sarif_log(decision), indent=2) + "\n"


def sarif_log(decision: Decision) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict."""
    policies = sorted({f.policy for f in decision.findings})
    # Describe a rule from its most severe real violation: an evaluation error carries no
    # remediation, and a policy whose severity depends on the case is as severe as its worst.
    describing: dict[str, Finding] = {}
    for finding in decision.findings:
        current = describing.get(finding.policy)
        if current is None or (not finding.error, finding.severity) > (not current.error, current.severity):
            describing[finding.policy] = finding
    pages = policy_pages()
    rules = [_rule(describing[p], pages.get(p)) for p in policies]
    index = {p: i for i, p in enumerate(policies)}
    # One identity for a finding in code scanning and in a baseline file (rollguard.fingerprint).
    prints = fingerprints(decision.findings)

    invocation: dict[str, Any] = {
        # An unusable input or a policy that could not run means the results are incomplete.
        "executionSuccessful": not decision.problems and not decision.errors,
        "exitCode": decision.exit_code(),
    }
    if decision.problems:
        invocation["toolExecutionNotifications"] = [_notification(p) for p in decision.problems]

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "rollguard",
                "version": _version(),
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "results": [_result(f, index[f.policy], fp, decision) for f, fp in zip(decision.findings, prints, strict=True)],
        "properties": {
            "verdict": decision.verdict,
            "engine": decision.engine,
            "environment": decision.environment,
            "failOn": decision.fail_on.label,
            **({"approval": decision.approval} if decision.approval else {}),
            **({"baseline": _baseline_properties(decision)} if decision.baseline is not None else {}),
        },
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


@functools.lru_cache(maxsize=1)
def policy_pages() -> Mapping[str, str]:
    """The URL of each bundled policy's page (docs/policies/<id>.md), by policy id.

    The base is the `Documentation` URL of the package metadata (`[project.urls]` in
    pyproject.toml), which serves the docs/ tree. Only bundled policies have a page: a policy
    of one's own bundle or a Checkov check gets no link rather than a broken one.
    """
    base = _documentation_url()
    if base is None:
        return {}
    try:
        ids = load_bundle(default_policy_dir()).by_id()
    except PolicyError:
        return {}  # no bundled policies installed: no pages to link to
    return {pid: f"{base.rstrip('/')}/policies/{quote(pid)}.md" for pid in ids}


def _documentation_url() -> str | None:
    entries: list[str] = metadata.metadata("rollguard").get_all("Project-URL") or []
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip() == "Documentation" and url.strip():
            return url.strip()
    return None


def _version() -> str:
    return metadata.version("rollguard")


def _rule(finding: Finding, help_uri: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.policy,
        "name": _rule_name(finding.policy),
        "shortDescription": {"text": finding.title or finding.policy},
    }
    if help_uri:
        rule["helpUri"] = help_uri
    if finding.remediation:
        rule["help"] = {"text": finding.remediation}
    rule["defaultConfiguration"] = {"level": _LEVELS[finding.severity]}
    # The domain (k8s, migration, ...) and the controls are filters in code scanning. GitHub
    # treats a rule with a security-severity as a security rule; the tag says so explicitly.
    score = SECURITY_SEVERITY.get(finding.severity)
    tags = ["security"] if score else []
    tags += [finding.policy.partition(".")[0], *finding.controls]
    rule["properties"] = {"tags": tags, "severity": finding.severity.label}
    if score:
        rule["properties"]["security-severity"] = score
    return rule


def _result(finding: Finding, rule_index: int, fingerprint: str, decision: Decision) -> dict[str, Any]:
    # The finding's own fix travels with it: two findings of one rule may need different fixes,
    # while the rule's help is the policy's general advice.
    text = f"{finding.message}\nfix: {finding.remediation}" if finding.remediation else finding.message
    result: dict[str, Any] = {
        "ruleId": finding.policy,
        "ruleIndex": rule_index,
        "level": _level(finding),
        "message": {"text": text},
        # GitHub rejects a result without a location, so the resource always gives one.
        "locations": [_location(finding)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        **({"baselineState": "unchanged" if finding.baseline else "new"} if decision.baseline is not None else {}),
        "properties": {
            "severity": finding.severity.label,
            "enforcement": finding.enforcement,
            "blocking": finding.blocks(decision.fail_on),
            "error": finding.error,
            "resource": finding.resource.to_json(),
        },
    }
    if finding.waiver is not None:
        result["properties"]["waiver"] = finding.waiver.to_json()
    if finding.baseline is not None:
        result["properties"]["baseline"] = finding.baseline.to_json()
    if finding.waived and finding.waiver is not None:
        result["suppressions"] = [{"kind": "external", "justification": finding.waiver.reason}]
    elif finding.baselined and finding.baseline is not None:
        justification = f"baselined since {finding.baseline.since} in {decision.baseline}"
        result["suppressions"] = [{"kind": "external", "justification": justification}]
    return result


def _baseline_properties(decision: Decision) -> dict[str, Any]:
    # A fixed entry is no result with baselineState `absent`: GitHub code scanning reads every
    # result as an open alert whatever its state, so a fixed finding would come back as one.
    return {"file": decision.baseline, "fixed": [e.to_json() for e in decision.baseline_fixed]}


def _level(finding: Finding) -> str:
    if finding.error:
        return "error"
    level = _LEVELS[finding.severity]
    # A warn or dryrun policy must not fail a code-scanning check that a deny policy of the
    # same severity would: cap its level to what the enforcement action promises.
    cap = {"deny": "error", "warn": "warning", "dryrun": "note"}[finding.enforcement]
    return min(level, cap, key=_LEVEL_ORDER.index)


def _location(finding: Finding) -> dict[str, Any]:
    resource = finding.resource
    qualified = "/".join(p for p in (resource.namespace, resource.kind, resource.name) if p)
    location: dict[str, Any] = {}
    if finding.file:
        location["physicalLocation"] = _physical(finding.file, finding.line)
    location["logicalLocations"] = [{"name": resource.name, "fullyQualifiedName": qualified, "kind": "resource"}]
    return location


def _notification(problem: InputProblem) -> dict[str, Any]:
    return {
        "level": "error",
        "message": {"text": problem.message},
        "locations": [{"physicalLocation": _physical(problem.file, problem.line)}],
    }


def _physical(file: str, line: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file)}}
    if line is not None and line >= 1:
        physical["region"] = {"startLine": line}
    return physical


def _uri(file: str) -> str:
    # Paths stay relative as given (GitHub resolves them from the repository root); only
    # characters a URI path may not hold are percent-encoded, and ":" too, since in a
    # relative reference it would read as a scheme.
    return quote(file.replace("\\", "/"), safe="/@!$&'()*+,;=-._~")


def _rule_name(policy: str) -> str:
    # SARIF rule names are identifiers readable by people: k8s.readiness_probe → K8sReadinessProbe.
    words = policy.replace(".", "_").replace("-", "_").split("_")
    return "".join(w[:1].upper() + w[1:] for w in words if w)
