"""SARIF 2.1.0 report for GitHub code scanning and other static-analysis viewers."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from rollguard.model import Decision, Finding, InputProblem, Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_LEVEL_ORDER = ("note", "warning", "error")


def render(decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as a SARIF 2.1.0 log with one run; `color` is ignored."""
    return json.dumps(sarif_log(decision), indent=2) + "\n"


def sarif_log(decision: Decision) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict."""
    policies = sorted({f.policy for f in decision.findings})
    # Describe a rule from one of its real violations: an evaluation error carries no remediation.
    describing: dict[str, Finding] = {}
    for finding in decision.findings:
        if finding.policy not in describing or (describing[finding.policy].error and not finding.error):
            describing[finding.policy] = finding
    rules = [_rule(describing[p]) for p in policies]
    index = {p: i for i, p in enumerate(policies)}

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
        "results": [_result(f, index[f.policy], decision) for f in decision.findings],
        "properties": {
            "verdict": decision.verdict,
            "engine": decision.engine,
            "environment": decision.environment,
            "failOn": decision.fail_on.label,
            **({"approval": decision.approval} if decision.approval else {}),
        },
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _version() -> str:
    from importlib import metadata

    return metadata.version("rollguard")


def _rule(finding: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.policy,
        "name": _rule_name(finding.policy),
        "shortDescription": {"text": finding.title or finding.policy},
    }
    if finding.remediation:
        rule["help"] = {"text": finding.remediation}
    rule["defaultConfiguration"] = {"level": _LEVELS[finding.severity]}
    rule["properties"] = {"tags": list(finding.controls), "severity": finding.severity.label}
    return rule


def _result(finding: Finding, rule_index: int, decision: Decision) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.policy,
        "ruleIndex": rule_index,
        "level": _level(finding),
        "message": {"text": finding.message},
        # GitHub rejects a result without a location, so the resource always gives one.
        "locations": [_location(finding)],
        "partialFingerprints": {"rollguardFinding/v1": _fingerprint(finding)},
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
    if finding.waived and finding.waiver is not None:
        result["suppressions"] = [{"kind": "external", "justification": finding.waiver.reason}]
    return result


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


def _fingerprint(finding: Finding) -> str:
    # Stable across line moves, so code scanning keeps one alert per resource and message.
    r = finding.resource
    key = "\0".join([finding.policy, r.api_version, r.kind, r.namespace or "", r.name, finding.message])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
