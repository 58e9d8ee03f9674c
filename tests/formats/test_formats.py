"""Every output format: golden files, structural checks, and escaping of awkward text.

Run with ROLLGUARD_UPDATE_GOLDEN=1 to rewrite the golden files, then read the diff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rollguard.errors import ConfigError
from rollguard.formats import FORMATS, format_choices, github, markdown, render, sarif, text
from rollguard.model import AppliedWaiver, Artifact, Decision, Finding, InputProblem, Resource, Severity
from rollguard.policy.bundle import PolicyInfo

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
# The OASIS SARIF 2.1.0 schema (draft-07); `make install` takes it from the sarif-pydantic sdist.
SARIF_SCHEMA = HERE.parents[1] / ".venv" / "sarif-schema-2.1.0.json"
UPDATE = os.environ.get("ROLLGUARD_UPDATE_GOLDEN") == "1"

EXTENSIONS = {
    "text": "txt",
    "json": "json",
    "junit": "xml",
    "sarif": "sarif",
    "github": "github.txt",
    "markdown": "md",
    "html": "html",
    "policyreport": "policyreport.yaml",
}

ANSI = re.compile(r"\x1b\[[0-9;]*m")

WEB = Resource("apps/v1", "Deployment", "shop", "web")
WORKER = Resource("apps/v1", "Deployment", "shop", "worker")
DB = Resource("apps/v1", "StatefulSet", "shop", "db")
NAMESPACE = Resource("v1", "Namespace", None, "shop")

CHANGE_CONTROLS = ("SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3")

WAIVER_APPLIED = AppliedWaiver(
    id="W-1",
    status="applied",
    reason="KEDA scales the worker from zero; the HPA owns the replica count",
    owner="team-checkout",
    ticket="OPS-1234",
    expires="2026-12-31",
)
WAIVER_EXPIRED = AppliedWaiver(
    id="W-2",
    status="expired",
    reason="temporary while the image pipeline moves to digests",
    owner="team-payments",
    ticket=None,
    expires="2025-06-30",
)


def failing_decision() -> Decision:
    """A failing change: blocking, below-threshold, waived, expired-waiver, warn, error, dryrun, bad input."""
    findings = (
        Finding(
            policy="k8s.readiness_probe",
            title="Containers declare a readiness probe",
            severity=Severity.HIGH,
            message='Deployment shop/web: container "web" has no readinessProbe',
            resource=WEB,
            file="deploy/web.yaml",
            line=1,
            controls=CHANGE_CONTROLS,
            remediation=(
                "Add a readinessProbe to every serving container that checks the endpoint the application"
                " uses to say it can take traffic (e.g. an HTTP GET on /ready). Keep it separate from the"
                " liveness check."
            ),
            details={"container": "web"},
        ),
        Finding(
            policy="k8s.memory_limits",
            title="Containers set a memory limit",
            severity=Severity.MEDIUM,
            message='Deployment shop/web: container "web" has no memory limit',
            resource=WEB,
            file="deploy/web.yaml",
            line=1,
            controls=("SOC2:CC7.2",),
            remediation="Set resources.limits.memory on every container.",
            details={"container": "web"},
        ),
        Finding(
            policy="k8s.min_replicas",
            title="Deployments run at least two replicas",
            severity=Severity.HIGH,
            message="Deployment shop/worker: replicas is 1; a rolling update needs at least 2",
            resource=WORKER,
            file="deploy/worker.yaml",
            line=3,
            controls=CHANGE_CONTROLS,
            remediation="Set spec.replicas to 2 or more.",
            waiver=WAIVER_APPLIED,
        ),
        Finding(
            policy="k8s.image_pinned",
            title="Images are pinned by digest",
            severity=Severity.HIGH,
            message='Deployment shop/worker: container "worker" uses the mutable tag "latest"',
            resource=WORKER,
            file="deploy/worker.yaml",
            line=3,
            controls=CHANGE_CONTROLS,
            remediation="Reference the image by digest (image@sha256:...).",
            waiver=WAIVER_EXPIRED,
            details={"container": "worker", "image": "registry.example.com/worker:latest"},
        ),
        Finding(
            policy="k8s.pod_disruption_budget",
            title="Replicated workloads have a PodDisruptionBudget",
            severity=Severity.HIGH,
            message="StatefulSet shop/db: no PodDisruptionBudget selects its pods",
            resource=DB,
            file="deploy/db.yaml",
            line=1,
            controls=CHANGE_CONTROLS,
            remediation="Add a PodDisruptionBudget with maxUnavailable: 1 that selects the pods.",
            enforcement="warn",
        ),
        Finding(
            policy="k8s.anti_affinity",
            title="Replicas spread across nodes",
            severity=Severity.MEDIUM,
            message='policy could not be evaluated: units.parse: invalid unit suffix in "2Gx"',
            resource=DB,
            file="deploy/db.yaml",
            line=14,
            error=True,
        ),
        Finding(
            policy="k8s.namespace_owner",
            title="Namespaces name an owner",
            severity=Severity.LOW,
            message='Namespace shop: has no "owner" label',
            resource=NAMESPACE,
            file=None,
            line=None,
            remediation="Label the namespace with owner: <team>.",
            enforcement="dryrun",
        ),
    )
    problems = (
        InputProblem("deploy/broken.yaml", 7, "mapping values are not allowed here; check the indentation"),
        InputProblem("deploy/notes.txt", None, "unknown file kind; pass Kubernetes YAML or JSON only"),
    )
    return Decision(
        findings=findings,
        problems=problems,
        fail_on=Severity.HIGH,
        engine="opa",
        resources=5,
        policies=23,
        environment="prod",
        expired_waivers=(WAIVER_EXPIRED,),
    )


def passing_decision() -> Decision:
    """A clean change: nothing found."""
    return Decision(findings=(), problems=(), fail_on=Severity.HIGH, engine="regorus", resources=3, policies=23)


AWKWARD_MESSAGE = 'limit "50%" exceeds 40%, see: docs\nline two | <b>&amp;</b> *bold* `code`'
AWKWARD_FILE = "deploy/odd, name:v2.yaml"


def awkward_decision() -> Decision:
    """Text that each format has to escape: %, newlines, :, ",", |, markup, control characters."""
    finding = Finding(
        policy="k8s.odd",
        title="Odd: title, with | pipe",
        severity=Severity.CRITICAL,
        message=AWKWARD_MESSAGE + "\x07",
        resource=Resource("v1", "ConfigMap", "a|b", "c%d"),
        file=AWKWARD_FILE,
        line=4,
        remediation="Fix it.\r\nThen again.",
    )
    problem = InputProblem("in put:1,2.yaml", 2, "bad\nthing: 100%")
    return Decision(
        findings=(finding,), problems=(problem,), fail_on=Severity.LOW, engine="opa", resources=1, policies=1
    )


DECISIONS: dict[str, Callable[[], Decision]] = {
    "failing": failing_decision,
    "passing": passing_decision,
    "awkward": awkward_decision,
}


def judged(decision: Decision) -> list[Artifact]:
    """The objects behind a decision, as a batch-fed format gets them: the test's resources and the findings'."""
    resources = dict.fromkeys([WEB, WORKER, DB, NAMESPACE, *(f.resource for f in decision.findings)])
    artifacts = []
    for r in resources:
        metadata = {"name": r.name, **({"namespace": r.namespace} if r.namespace else {})}
        document = {"apiVersion": r.api_version, "kind": r.kind, "metadata": metadata}
        artifacts.append(Artifact(kind="k8s", document=document, file=f"deploy/{r.name}.yaml", line=1, resource=r))
    return artifacts


def judging_policies() -> list[PolicyInfo]:
    """The policies behind the test decisions, each applying to the kind its findings name."""
    findings = [*failing_decision().findings, *awkward_decision().findings]
    return [
        PolicyInfo(
            id=f.policy,
            package=f"rollguard.{f.policy}",
            title=f.title,
            description=f.title,
            severity=f.severity,
            controls=f.controls,
            remediation=f.remediation,
            parameters_schema={},
            applies_to=(f.resource.kind,),
            file=f"rollguard/{f.policy.replace('.', '/')}.rego",
        )
        for f in {f.policy: f for f in findings}.values()
    ]


def output(name: str, decision: Decision, *, color: bool = False) -> str:
    """What format `name` writes for `decision`: rendered, or written from its objects and findings in one batch."""
    fmt = FORMATS[name]
    if fmt.writer is None:
        return render(name, decision, color=color)
    out = io.StringIO()
    writer = fmt.writer(out, policies=judging_policies(), now=dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc))
    writer.add(judged(decision), decision.findings)
    writer.close()
    return out.getvalue()


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} missing; run with ROLLGUARD_UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_bytes().decode("utf-8"), f"{name} differs from its golden file"


# --- registry ---------------------------------------------------------------------------------


def test_every_format_has_a_golden_extension() -> None:
    assert set(EXTENSIONS) == set(FORMATS)


@pytest.mark.parametrize("decision_name", sorted(DECISIONS))
@pytest.mark.parametrize("format_name", sorted(FORMATS))
def test_every_format_renders_every_decision(format_name: str, decision_name: str) -> None:
    decision = DECISIONS[decision_name]()
    for color in (False, True):
        out = output(format_name, decision, color=color)
        assert out.endswith("\n") and out.strip()
        if format_name != "text" and format_name != "github":
            assert not ANSI.search(out), f"{format_name} must never colour"
    assert not ANSI.search(output(format_name, decision)), "colour only when asked"


@pytest.mark.parametrize("format_name", sorted(FORMATS))
def test_every_format_is_offered_where_it_can_be_written(format_name: str) -> None:
    fmt = FORMATS[format_name]
    assert (fmt.render is None) != (fmt.writer is None), "a format renders a decision or is fed batches, not both"
    if fmt.render is not None:
        assert fmt.commands is None and all(format_name in format_choices(c) for c in ("check", "migrate verify"))
    else:
        # Batch-fed: only commands that judge object by object can feed it; `check` cannot.
        assert fmt.commands and format_name not in format_choices("check")
        assert all(format_name in format_choices(c) for c in fmt.commands)
        with pytest.raises(ConfigError, match=rf"'{format_name}' is written while objects are judged; only `rollguard"):
            render(format_name, passing_decision())
    assert format_name in format_choices("audit cluster")


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown output format 'yaml'.*text"):
        render("yaml", passing_decision())


# --- golden files -----------------------------------------------------------------------------


@pytest.mark.parametrize("decision_name", ["failing", "passing"])
@pytest.mark.parametrize("format_name", sorted(EXTENSIONS))
def test_golden(format_name: str, decision_name: str) -> None:
    out = output(format_name, DECISIONS[decision_name]())
    check_golden(f"{decision_name}.{EXTENSIONS[format_name]}", out)


def test_golden_text_in_colour() -> None:
    check_golden("failing.color.txt", render("text", failing_decision(), color=True))


# --- text -------------------------------------------------------------------------------------


def test_text_groups_findings_under_their_resource() -> None:
    out = text.render(failing_decision())
    lines = out.splitlines()
    web = lines.index("Deployment shop/web  (deploy/web.yaml:1)")
    assert lines[web + 1].split() == [
        "HIGH",
        "k8s.readiness_probe",
        "container",
        '"web"',
        "has",
        "no",
        "readinessProbe",
        "[blocking]",
    ]
    assert lines[web + 2].strip() == (
        "fix: Add a readinessProbe to every serving container that checks the endpoint the application uses"
        " to say it can take traffic (e.g. an HTTP GET on /ready). Keep it separate from the liveness check."
    )
    assert lines[web + 3].split()[:2] == ["MEDIUM", "k8s.memory_limits"]
    assert "[blocking]" not in lines[web + 3]
    assert "Namespace shop" in lines  # cluster-scoped and unlocated: no "(file)" part


def test_text_marks_waived_warn_dryrun_error_and_expired() -> None:
    out = text.render(failing_decision())
    assert re.search(r"HIGH +k8s\.min_replicas +replicas is 1.*\(waived by W-1 until 2026-12-31\)$", out, re.M)
    assert re.search(r"HIGH +k8s\.image_pinned .*\(waiver W-2 expired 2025-06-30\) \[blocking\]$", out, re.M)
    assert re.search(r"HIGH +k8s\.pod_disruption_budget .* \[warn\]$", out, re.M)
    assert re.search(r"LOW +k8s\.namespace_owner .* \[dryrun\]$", out, re.M)
    assert re.search(r"ERROR +k8s\.anti_affinity +policy could not be evaluated.*\(line 14\) \[blocking\]$", out, re.M)
    assert "Input errors\n  deploy/broken.yaml:7: mapping values are not allowed here" in out
    assert "\n  deploy/notes.txt: unknown file kind" in out
    assert "Expired waivers (no longer applied)\n  W-2  expired 2025-06-30 (owner team-payments)" in out


def test_text_verdict_is_the_last_line() -> None:
    failing = text.render(failing_decision()).splitlines()[-1]
    assert failing == (
        "FAIL: 6 findings (3 blocking at >= high) in 5 resources, 23 policies, engine opa, environment prod;"
        " 1 waived; 1 policy error; 2 input errors; 1 expired waiver"
    )
    assert text.render(passing_decision()) == "PASS: 0 findings in 3 resources, 23 policies, engine regorus\n"


def test_text_colour() -> None:
    out = text.render(failing_decision(), color=True)
    assert "\x1b[1;31mFAIL\x1b[0m: 6 findings" in out
    assert "\x1b[1;31mHIGH\x1b[0m" in out
    assert "\x1b[33mMEDIUM\x1b[0m" in out
    assert "\x1b[2mHIGH\x1b[0m" in out  # the waived finding is dimmed
    assert ANSI.sub("", out) == text.render(failing_decision())
    assert text.render(passing_decision(), color=True).startswith("\x1b[1;32mPASS\x1b[0m")


# --- json -------------------------------------------------------------------------------------


def test_json_is_the_documented_document() -> None:
    decision = failing_decision()
    out = render("json", decision)
    assert out == json.dumps(decision.to_json(), indent=2) + "\n"
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["verdict"] == "fail"
    assert doc["summary"]["blocking"] == 3 and doc["summary"]["waived"] == 1
    assert [f["policy"] for f in doc["findings"]][0] == "k8s.readiness_probe"


def test_json_doc_mentions_every_field() -> None:
    doc = (HERE.parent.parent / "docs" / "json-output.md").read_text(encoding="utf-8")
    decision = failing_decision().to_json()
    keys: set[str] = set(decision)
    keys |= set(decision["summary"]) | set(decision["summary"]["by_severity"])
    keys |= set(decision["findings"][0]) | set(decision["findings"][0]["resource"])
    keys |= set(decision["errors"][0]) | set(decision["expired_waivers"][0])
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"docs/json-output.md does not describe {missing}"


# --- junit ------------------------------------------------------------------------------------


def _junit(decision: Decision) -> ET.Element:
    return ET.fromstring(render("junit", decision).encode("utf-8"))


def test_junit_structure_and_counts() -> None:
    root = _junit(failing_decision())
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == [
        "k8s.readiness_probe",
        "k8s.memory_limits",
        "k8s.min_replicas",
        "k8s.image_pinned",
        "k8s.pod_disruption_budget",
        "k8s.anti_affinity",
        "k8s.namespace_owner",
        "input",
    ]
    expected = {  # name: (tests, failures, errors, skipped)
        "k8s.readiness_probe": (1, 1, 0, 0),
        "k8s.memory_limits": (1, 0, 0, 0),
        "k8s.min_replicas": (1, 0, 0, 1),
        "k8s.image_pinned": (1, 1, 0, 0),
        "k8s.pod_disruption_budget": (1, 0, 0, 0),
        "k8s.anti_affinity": (1, 0, 1, 0),
        "k8s.namespace_owner": (1, 0, 0, 0),
        "input": (2, 0, 2, 0),
    }
    for name, counts in expected.items():
        suite = suites[name]
        got = tuple(int(suite.get(a, "-1")) for a in ("tests", "failures", "errors", "skipped"))
        assert got == counts, name
        cases = suite.findall("testcase")
        assert len(cases) == counts[0]
        assert len(suite.findall("testcase/failure")) == counts[1]
        assert len(suite.findall("testcase/error")) == counts[2]
        assert len(suite.findall("testcase/skipped")) == counts[3]
    assert [root.get(a) for a in ("tests", "failures", "errors", "skipped")] == ["9", "2", "3", "1"]

    failure = suites["k8s.readiness_probe"].find("testcase/failure")
    assert failure is not None
    assert failure.get("type") == "high"
    assert failure.get("message") == 'Deployment shop/web: container "web" has no readinessProbe'
    assert "controls: SOC2:CC8.1, ISO27001:A.8.32, NIST-800-53:CM-3" in (failure.text or "")
    case = suites["k8s.readiness_probe"].find("testcase")
    assert case is not None and case.get("file") == "deploy/web.yaml" and case.get("line") == "1"
    skipped = suites["k8s.min_replicas"].find("testcase/skipped")
    assert skipped is not None and (skipped.get("message") or "").startswith("waived by W-1 until 2026-12-31")
    out = suites["k8s.pod_disruption_budget"].find("testcase/system-out")
    assert out is not None and (out.text or "").startswith("not blocking (enforcement warn)")
    problem = suites["input"].find("testcase")
    assert (
        problem is not None
        and problem.get("name") == "deploy/broken.yaml:7: mapping values are not allowed here; check the indentation"
    )


def test_junit_passing_has_one_passing_case() -> None:
    root = _junit(passing_decision())
    assert [root.get(a) for a in ("tests", "failures", "errors", "skipped")] == ["1", "0", "0", "0"]
    assert [c.get("name") for c in root.iter("testcase")] == ["23 policies on 3 resources: no findings"]


def test_junit_escapes_markup_and_control_characters() -> None:
    root = _junit(awkward_decision())
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == AWKWARD_MESSAGE + "\ufffd"  # newline kept, BEL replaced
    assert failure.get("type") == "critical"


# --- sarif ------------------------------------------------------------------------------------


def _sarif(decision: Decision) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render("sarif", decision))
    return doc


@pytest.mark.parametrize("decision_name", sorted(DECISIONS))
def test_sarif_validates_against_the_schema(decision_name: str) -> None:
    schema = _sarif_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(_sarif(DECISIONS[decision_name]())), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def _sarif_schema() -> dict[str, Any]:
    assert SARIF_SCHEMA.is_file(), f"{SARIF_SCHEMA} is missing: run `make install` (or `make test`), which fetches it"
    return dict(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))


def test_sarif_schema_check_can_fail() -> None:
    schema = _sarif_schema()
    doc = _sarif(failing_decision())
    doc["runs"][0]["results"][0]["level"] = "fatal"
    assert not jsonschema.Draft7Validator(schema).is_valid(doc)


def test_sarif_rules_results_and_levels() -> None:
    doc = _sarif(failing_decision())
    assert doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json" and doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "rollguard" and driver["version"] == metadata.version("rollguard")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted({f.policy for f in failing_decision().findings})
    probe = next(r for r in rules if r["id"] == "k8s.readiness_probe")
    assert probe["name"] == "K8sReadinessProbe"
    assert probe["shortDescription"] == {"text": "Containers declare a readiness probe"}
    assert probe["help"]["text"].startswith("Add a readinessProbe")
    assert probe["properties"]["tags"] == ["security", "k8s", *CHANGE_CONTROLS]
    assert probe["defaultConfiguration"] == {"level": "error"}

    results = run["results"]
    assert len(results) == 7
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["locations"], "GitHub rejects results without a location"
    by_policy = {r["ruleId"]: r for r in results}
    levels = {p: r["level"] for p, r in by_policy.items()}
    assert levels == {
        "k8s.readiness_probe": "error",
        "k8s.memory_limits": "warning",
        "k8s.min_replicas": "error",
        "k8s.image_pinned": "error",
        "k8s.pod_disruption_budget": "warning",  # high, but warn-enforced
        "k8s.anti_affinity": "error",  # evaluation error
        "k8s.namespace_owner": "note",
    }
    probe_result = by_policy["k8s.readiness_probe"]
    assert probe_result["message"]["text"] == (
        'Deployment shop/web: container "web" has no readinessProbe\nfix: ' + failing_decision().findings[0].remediation
    )
    assert by_policy["k8s.anti_affinity"]["message"]["text"].startswith("policy could not be evaluated")
    (location,) = probe_result["locations"]
    assert location["physicalLocation"] == {"artifactLocation": {"uri": "deploy/web.yaml"}, "region": {"startLine": 1}}
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "shop/Deployment/web"
    ns_location = by_policy["k8s.namespace_owner"]["locations"][0]
    assert "physicalLocation" not in ns_location
    assert ns_location["logicalLocations"][0]["fullyQualifiedName"] == "Namespace/shop"

    assert by_policy["k8s.min_replicas"]["suppressions"] == [
        {"kind": "external", "justification": WAIVER_APPLIED.reason}
    ]
    assert [r["ruleId"] for r in results if "suppressions" in r] == ["k8s.min_replicas"]

    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 3
    notes = invocation["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["error", "error"]
    assert notes[0]["message"]["text"] == "mapping values are not allowed here; check the indentation"
    assert notes[0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "deploy/broken.yaml"},
        "region": {"startLine": 7},
    }
    assert "region" not in notes[1]["locations"][0]["physicalLocation"]


def test_sarif_passing_run_is_empty_but_complete() -> None:
    (run,) = _sarif(passing_decision())["runs"]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    assert run["invocations"] == [{"executionSuccessful": True, "exitCode": 0}]


def test_sarif_fingerprints_ignore_the_line() -> None:
    decision = failing_decision()
    moved = Decision(
        findings=tuple(dataclasses.replace(f, line=(f.line or 0) + 10) for f in decision.findings),
        problems=(),
        fail_on=decision.fail_on,
        engine=decision.engine,
        resources=decision.resources,
        policies=decision.policies,
    )
    before = [r["partialFingerprints"] for r in _sarif(decision)["runs"][0]["results"]]
    after = [r["partialFingerprints"] for r in _sarif(moved)["runs"][0]["results"]]
    assert before == after
    assert len({fp[sarif.FINGERPRINT_KEY] for fp in before}) == len(before)


def _fingerprints(*findings: Finding) -> list[str]:
    decision = Decision(findings=findings, problems=(), fail_on=Severity.HIGH, engine="opa", resources=1, policies=1)
    return [r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in _sarif(decision)["runs"][0]["results"]]


def test_sarif_fingerprint_survives_a_move_and_a_line_number_in_the_message() -> None:
    finding = dataclasses.replace(failing_decision().findings[0], message="probe missing (line 4)", line=4)
    moved = dataclasses.replace(finding, message="probe missing (line 40)", line=40)
    assert _fingerprints(finding) == _fingerprints(moved)
    assert _fingerprints(finding) != _fingerprints(dataclasses.replace(finding, policy="k8s.other"))


def test_sarif_fingerprint_tells_apart_places_in_one_resource() -> None:
    web = failing_decision().findings[0]
    sidecar = dataclasses.replace(web, details={"container": "sidecar"})
    same_container_other_field = dataclasses.replace(web, details={"container": "web", "field": "ports"})
    other_resource = dataclasses.replace(web, resource=WORKER)
    prints = _fingerprints(web, sidecar, same_container_other_field, other_resource)
    assert len(set(prints)) == 4
    # Findings their details do not tell apart still get one alert each, numbered in report order.
    first, second = _fingerprints(web, dataclasses.replace(web, message="another problem"))
    assert first != second and first == _fingerprints(web)[0]


def test_sarif_rule_links_its_policy_page() -> None:
    urls = metadata.metadata("rollguard").get_all("Project-URL") or []
    assert "Documentation, https://rollguard.dev/docs/" in urls, (
        "installed metadata predates pyproject.toml: make install"
    )
    rules = _sarif(failing_decision())["runs"][0]["tool"]["driver"]["rules"]
    linked = {r["id"]: r["helpUri"] for r in rules if "helpUri" in r}
    # Only bundled policies have a page; the test's invented ids get no link rather than a broken one.
    assert linked == {"k8s.readiness_probe": "https://rollguard.dev/docs/policies/k8s.readiness_probe.md"}
    assert "k8s.rolling_update" in sarif.policy_pages()
    for policy_id in sarif.policy_pages():
        assert (HERE.parents[1] / "docs" / "policies" / f"{policy_id}.md").is_file(), policy_id


def test_sarif_rule_has_no_link_without_a_documentation_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sarif, "_documentation_url", lambda: None)
    sarif.policy_pages.cache_clear()
    try:
        rules = _sarif(failing_decision())["runs"][0]["tool"]["driver"]["rules"]
    finally:
        sarif.policy_pages.cache_clear()
    assert rules and not any("helpUri" in r for r in rules)


# GitHub code scanning's bands: over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_BANDS = {
    Severity.CRITICAL: (9.1, 10.0),
    Severity.HIGH: (7.0, 8.9),
    Severity.MEDIUM: (4.0, 6.9),
    Severity.LOW: (0.1, 3.9),
}


@pytest.mark.parametrize("severity", list(Severity), ids=lambda s: s.label)
def test_sarif_security_severity_falls_in_githubs_band(severity: Severity) -> None:
    finding = dataclasses.replace(failing_decision().findings[0], severity=severity)
    (rule,) = _sarif(dataclasses.replace(failing_decision(), findings=(finding,)))["runs"][0]["tool"]["driver"]["rules"]
    properties = rule["properties"]
    assert properties["severity"] == severity.label
    if severity not in SECURITY_BANDS:
        assert "security-severity" not in properties and "security" not in properties["tags"]
        return
    low, high = SECURITY_BANDS[severity]
    score = properties["security-severity"]
    assert isinstance(score, str) and low <= float(score) <= high  # GitHub reads a string
    assert properties["tags"][0] == "security"


def test_sarif_rule_takes_the_severity_of_its_worst_finding() -> None:
    probe = failing_decision().findings[0]
    findings = (dataclasses.replace(probe, severity=Severity.LOW), probe)
    (rule,) = _sarif(dataclasses.replace(failing_decision(), findings=findings))["runs"][0]["tool"]["driver"]["rules"]
    assert rule["properties"]["security-severity"] == sarif.SECURITY_SEVERITY[Severity.HIGH]
    assert rule["defaultConfiguration"] == {"level": "error"}


def test_sarif_uri_is_a_relative_reference() -> None:
    (run,) = _sarif(awkward_decision())["runs"]
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "deploy/odd,%20name%3Av2.yaml"
    assert sarif.sarif_log(awkward_decision())["runs"][0]["results"][0]["message"]["text"].startswith('limit "50%"')


# --- github -----------------------------------------------------------------------------------


def test_github_escaping() -> None:
    assert github.escape_data("50%\r\nnext: a, b") == "50%25%0D%0Anext: a, b"
    assert github.escape_property("50%\r\nnext: a, b") == "50%25%0D%0Anext%3A a%2C b"
    out = render("github", awkward_decision())
    first = out.splitlines()[0]
    assert first.startswith("::error file=deploy/odd%2C name%3Av2.yaml,line=4,title=k8s.odd::")
    message = first.split("::", 2)[2]
    assert message.startswith('limit "50%25" exceeds 40%25, see: docs%0Aline two | <b>&amp;</b>')
    assert "\n" not in message and "\r" not in message
    assert "%0Afix: Fix it." in message
    assert (
        out.splitlines()[1]
        == "::error file=in put%3A1%2C2.yaml,line=2,title=rollguard%3A unusable input::bad%0Athing: 100%25"
    )


def test_github_levels_and_summary() -> None:
    lines = render("github", failing_decision()).splitlines()
    levels = [line.split(" ", 1)[0] for line in lines[:-1]]
    assert levels == [
        "::error",  # readiness_probe: blocking
        "::warning",  # memory_limits: below --fail-on
        "::notice",  # min_replicas: waived
        "::error",  # image_pinned: waiver expired, blocking
        "::warning",  # pod_disruption_budget: warn
        "::error",  # anti_affinity: evaluation error
        "::notice",  # namespace_owner: dryrun
        "::error",  # input problem
        "::error",  # input problem
        "::warning",  # expired waiver
    ]
    assert lines[0] == (
        "::error file=deploy/web.yaml,line=1,title=k8s.readiness_probe::"
        'Deployment shop/web: container "web" has no readinessProbe (high)%0A'
        "fix: Add a readinessProbe to every serving container that checks the endpoint the application uses"
        " to say it can take traffic (e.g. an HTTP GET on /ready). Keep it separate from the liveness check."
    )
    assert lines[6].startswith("::notice title=k8s.namespace_owner::Namespace shop:")  # no file, no line
    assert not lines[-1].startswith("::")
    assert lines[-1].startswith("rollguard FAIL: 6 findings (3 blocking at >= high)")


# --- markdown ---------------------------------------------------------------------------------


def test_markdown_sections() -> None:
    out = markdown.render(failing_decision())
    assert out.startswith("## rollguard: FAIL\n")
    assert "| high | 3 |" in out and "| medium | 2 |" in out and "| **blocking** (at >= high) | 3 |" in out
    assert "| Severity | Policy | Resource | Message | Location |" in out
    assert (
        '| **high (blocking)** | k8s.readiness_probe | Deployment shop/web | container "web" has no readinessProbe'
        "<br>fix: Add a readinessProbe to every serving container that checks the endpoint the application uses"
        " to say it can take traffic (e.g. an HTTP GET on /ready). Keep it separate from the liveness check."
        " | deploy/web.yaml:1 |"
    ) in out
    assert "### Input errors\n\n- deploy/broken.yaml:7: mapping values are not allowed here" in out
    waived = out.split("### Waived", 1)[1]
    assert "| k8s.min_replicas | Deployment shop/worker | W-1 | 2026-12-31 | team-checkout |" in waived
    findings_table = out.split("### Findings", 1)[1].split("###", 1)[0]
    assert "k8s.min_replicas" not in findings_table
    assert "### Expired waivers" in out
    assert markdown.render(passing_decision()).startswith("## rollguard: PASS\n")
    assert "### Findings" not in markdown.render(passing_decision())


def test_markdown_cells_cannot_break_the_table() -> None:
    assert markdown.cell("a | b") == "a \\| b"
    assert markdown.cell("x\ny") == "x<br>y"
    assert markdown.cell("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    out = markdown.render(awkward_decision())
    row = next(line for line in out.splitlines() if line.startswith("| **critical"))
    assert row.count("|") - row.count("\\|") == 6, row
    assert "a\\|b/c%d" in row


def test_markdown_truncates_long_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(markdown, "MAX_ROWS", 2)
    out = markdown.render(failing_decision())
    table = out.split("### Findings", 1)[1].split("###", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "Severity" not in line]
    assert len(rows) == 3 and "4 more findings" in rows[-1]


def test_text_does_not_repeat_a_fix_word_for_word() -> None:
    base = failing_decision()
    first = next(f for f in base.findings if not f.waived and not f.error and f.remediation)
    second = dataclasses.replace(first, message="a second problem of the same kind")
    decision = dataclasses.replace(base, findings=(first, second))
    out = text.render(decision)
    assert out.count("fix: ") == 1
    assert "a second problem of the same kind" in out


def test_html_is_self_contained_escaped_and_grouped_by_artifact() -> None:
    from dataclasses import replace
    from html.parser import HTMLParser

    from rollguard.model import Link

    decision = failing_decision()
    linked = replace(
        decision, links=(Link("scans/web.json", "scans shop/web:1.2", "Deployment shop/web (k8s/web.yaml:1)"),)
    )
    out = render("html", linked)
    assert "http://" not in out.replace("http://www.w3.org", "") and "https://" not in out and "<script" not in out
    assert "<h2>Links between artifacts</h2>" in out and "<code>scans/web.json</code>" in out
    headings: list[str] = []

    class Headings(HTMLParser):
        inside = False

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.inside = tag == "h2"

        def handle_data(self, data: str) -> None:
            if self.inside:
                headings.append(data)
                self.inside = False

    Headings().feed(out)
    # One section per resource and place (the same object can appear in two files).
    resources = [r for r, _ in dict.fromkeys((f.resource.display(), f.file) for f in decision.findings)]
    assert headings == [*resources, "Links between artifacts", *(["Input errors"] if decision.problems else [])]
    awkward = render("html", awkward_decision())
    assert "<b>&amp;</b>" not in awkward and "&lt;b&gt;&amp;amp;&lt;/b&gt;" in awkward


# --- the fix of every finding -----------------------------------------------------------------

LONG_FIX = "Give the container a readinessProbe. Probe e.g. /ready... not /live! Then roll out again?"


def _two_fixes() -> Decision:
    """Two findings of one policy on one resource (two containers), each with its own fix."""
    web = dataclasses.replace(failing_decision().findings[0], remediation=LONG_FIX)
    sidecar = dataclasses.replace(
        web,
        message='Deployment shop/web: container "proxy" has no readinessProbe',
        remediation="Add a tcpSocket readinessProbe on the proxy port.",
        details={"container": "proxy"},
    )
    return dataclasses.replace(failing_decision(), findings=(web, sidecar), problems=(), expired_waivers=())


@pytest.mark.parametrize("format_name", ["text", "github", "markdown"])
def test_the_whole_fix_is_shown(format_name: str) -> None:
    out = render(format_name, _two_fixes())
    assert f"fix: {LONG_FIX}" in out


@pytest.mark.parametrize("format_name", sorted(FORMATS))
def test_each_finding_keeps_its_own_fix(format_name: str) -> None:
    out = output(format_name, _two_fixes())
    for fix in (LONG_FIX, "Add a tcpSocket readinessProbe on the proxy port."):
        assert fix in out, f"{format_name} lost the fix {fix!r}"


def test_sarif_result_carries_its_own_fix_and_the_rule_the_policys() -> None:
    (run,) = _sarif(_two_fixes())["runs"]
    (rule,) = run["tool"]["driver"]["rules"]
    assert rule["help"] == {"text": LONG_FIX}
    texts = [r["message"]["text"] for r in run["results"]]
    assert texts[0].endswith(f"\nfix: {LONG_FIX}")
    assert texts[1].endswith("\nfix: Add a tcpSocket readinessProbe on the proxy port.")
