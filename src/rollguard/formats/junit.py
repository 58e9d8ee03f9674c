"""JUnit XML report for CI test views: one suite per policy, one test case per finding."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from rollguard.model import Decision, Finding, InputProblem

# XML 1.0 forbids most control characters even when escaped; CI parsers reject the file.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_INPUT_SUITE = "input"


def render(decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as JUnit XML; `color` is ignored."""
    root = ET.Element("testsuites", name="rollguard")

    suites: dict[str, list[Finding]] = {}
    for finding in decision.findings:
        suites.setdefault(finding.policy, []).append(finding)
    for policy, findings in suites.items():
        suite = ET.SubElement(root, "testsuite", name=_clean(policy))
        for finding in findings:
            _add_finding(suite, finding, decision)

    if decision.problems:
        suite = ET.SubElement(root, "testsuite", name=_INPUT_SUITE)
        for problem in decision.problems:
            _add_problem(suite, problem)

    if not decision.findings and not decision.problems:
        # Jenkins and GitLab treat a report without test cases as a broken report.
        suite = ET.SubElement(root, "testsuite", name="rollguard")
        ET.SubElement(
            suite,
            "testcase",
            classname="rollguard",
            name=f"{decision.policies} policies on {decision.resources} resources: no findings",
        )

    for suite in root.findall("testsuite"):
        _set_counts(suite, suite.findall("testcase"))
    _set_counts(root, root.findall("testsuite/testcase"))

    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _add_finding(suite: ET.Element, finding: Finding, decision: Decision) -> None:
    case = ET.SubElement(suite, "testcase", classname=_clean(finding.policy), name=_clean(_case_name(finding)))
    if finding.file:
        case.set("file", _clean(finding.file))
    if finding.line is not None:
        case.set("line", str(finding.line))
    body = _clean(_describe(finding))
    message = _clean(finding.message)
    if finding.error:
        ET.SubElement(case, "error", message=message, type="policy-error").text = body
    elif finding.waived and (waiver := finding.waiver) is not None:
        ET.SubElement(case, "skipped", message=_clean(f"{waiver.label}: {waiver.reason}"))
    elif finding.baselined and (baseline := finding.baseline) is not None:
        ET.SubElement(case, "skipped", message=_clean(f"baselined since {baseline.since} in {decision.baseline}"))
    elif finding.blocks(decision.fail_on):
        ET.SubElement(case, "failure", message=message, type=finding.severity.label).text = body
    else:
        # Reported but not blocking (below --fail-on, or warn/dryrun): a passing case that says why.
        why = (
            f"enforcement {finding.enforcement}"
            if finding.enforcement != "deny"
            else f"severity {finding.severity.label} is below --fail-on {decision.fail_on.label}"
        )
        ET.SubElement(case, "system-out").text = _clean(f"not blocking ({why})\n{body}")


def _add_problem(suite: ET.Element, problem: InputProblem) -> None:
    case = ET.SubElement(suite, "testcase", classname=_INPUT_SUITE, name=_clean(problem.display()))
    case.set("file", _clean(problem.file))
    if problem.line is not None:
        case.set("line", str(problem.line))
    ET.SubElement(case, "error", message=_clean(problem.message), type="input").text = _clean(problem.display())


def _case_name(finding: Finding) -> str:
    prefix = f"{finding.resource.display()}: "
    if finding.message.startswith(prefix):
        return finding.message
    return prefix + finding.message


def _describe(finding: Finding) -> str:
    lines = [
        finding.message,
        "",
        f"policy:   {finding.policy} ({finding.title})",
        f"severity: {finding.severity.label}",
        f"resource: {finding.resource.api_version} {finding.resource.display()}",
    ]
    if finding.file:
        lines.append(f"location: {finding.file}:{finding.line}" if finding.line else f"location: {finding.file}")
    if finding.controls:
        lines.append(f"controls: {', '.join(finding.controls)}")
    if finding.waiver is not None and finding.waiver.status == "expired":
        lines.append(f"waiver:   {finding.waiver.id} expired {finding.waiver.expires}")
    if finding.baseline is not None and finding.baseline.status == "expired":
        lines.append(f"baseline: entry from {finding.baseline.since} expired {finding.baseline.expires}")
    if finding.remediation:
        lines.append(f"fix:      {finding.remediation}")
    return "\n".join(lines)


def _set_counts(element: ET.Element, cases: list[ET.Element]) -> None:
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    element.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    element.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)
