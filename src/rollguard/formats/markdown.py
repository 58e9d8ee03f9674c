"""Markdown report for pull-request comments and `$GITHUB_STEP_SUMMARY`."""

from __future__ import annotations

import re

from rollguard.formats.text import short_message, summary_text
from rollguard.model import AppliedWaiver, BaselineEntry, Decision, Finding

# A pull-request comment holds at most 65,536 characters; past this many rows the table is cut.
# A row carries its finding's fix, so it can run to several hundred characters.
MAX_ROWS = 100

_SPECIAL = re.compile(r"([\\|`*\[\]])")


def render(decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as GitHub-flavoured Markdown; `color` is ignored."""
    summary = decision.summary()
    out = [f"## rollguard: {decision.verdict.upper()}", "", summary_text(decision), ""]

    if decision.findings or decision.problems:
        out += ["| Severity | Findings |", "|---|---:|"]
        out += [f"| {label} | {n} |" for label, n in summary["by_severity"].items()]
        out += [
            f"| **blocking** (at >= {summary['fail_on']}) | {summary['blocking']} |",
            f"| waived | {summary['waived']} |",
            *([f"| baselined | {summary['baselined']} |"] if decision.baseline is not None else []),
            f"| policy errors | {summary['errors']} |",
            f"| input errors | {summary['input_errors']} |",
            "",
        ]

    active = [f for f in decision.findings if not f.accepted]
    if active:
        out += ["### Findings", "", "| Severity | Policy | Resource | Message | Location |", "|---|---|---|---|---|"]
        ordered = sorted(active, key=lambda f: (not f.blocks(decision.fail_on), not f.error, -f.severity))
        out += [_finding_row(f, decision) for f in ordered[:MAX_ROWS]]
        if len(ordered) > MAX_ROWS:
            out.append(f"| … | | | {len(ordered) - MAX_ROWS} more findings; see the JSON or SARIF report | |")
        out.append("")

    if decision.problems:
        out += ["### Input errors", ""]
        out += [f"- {cell(p.display())}" for p in decision.problems]
        out.append("")

    waived = [(f, f.waiver) for f in decision.findings if f.waived and f.waiver is not None]
    if waived:
        out += [
            "### Waived",
            "",
            "| Policy | Resource | Waiver | Expires | Owner | Reason |",
            "|---|---|---|---|---|---|",
        ]
        out += [_waived_row(f, w) for f, w in waived]
        out.append("")

    baselined = [f for f in decision.findings if f.baselined]
    if baselined:
        out += ["### Baselined", "", "| Policy | Resource | Message | Since |", "|---|---|---|---|"]
        out += [_baselined_row(f) for f in baselined[:MAX_ROWS]]
        if len(baselined) > MAX_ROWS:
            out.append(f"| … | | {len(baselined) - MAX_ROWS} more baselined findings; see the JSON report | |")
        out.append("")

    if decision.baseline_fixed:
        regenerate = f"rollguard baseline create PATHS --output {decision.baseline}"
        out += ["### Fixed since the baseline", "", f"Regenerate the baseline to drop them: `{regenerate}`.", ""]
        out += ["| Policy | Resource | Message | Baselined since |", "|---|---|---|---|"]
        out += [_fixed_row(e) for e in decision.baseline_fixed[:MAX_ROWS]]
        if len(decision.baseline_fixed) > MAX_ROWS:
            out.append(f"| … | | {len(decision.baseline_fixed) - MAX_ROWS} more; see the JSON report | |")
        out.append("")

    if decision.expired_waivers:
        out += ["### Expired waivers", "", "These waivers no longer apply; renew or remove them.", ""]
        out += ["| Waiver | Expired | Owner | Ticket | Reason |", "|---|---|---|---|---|"]
        out += [_expired_row(w) for w in decision.expired_waivers]
        out.append("")

    return "\n".join(out)


def cell(text: str) -> str:
    """Make `text` safe inside a table cell: escape Markdown specials and `|`, keep it on one line."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _SPECIAL.sub(r"\\\1", text)
    return "<br>".join(text.splitlines())


def _finding_row(finding: Finding, decision: Decision) -> str:
    severity = "error" if finding.error else finding.severity.label
    notes = []
    if finding.blocks(decision.fail_on):
        notes.append("blocking")
    if finding.enforcement != "deny":
        notes.append(finding.enforcement)
    if finding.waiver is not None:
        notes.append(f"waiver {finding.waiver.id} expired")
    if finding.baseline is not None:
        notes.append(f"baseline entry expired {finding.baseline.expires}")
    if notes:
        severity += f" ({', '.join(notes)})"
    if finding.blocks(decision.fail_on):
        severity = f"**{severity}**"
    location = ""
    if finding.file:
        location = f"{finding.file}:{finding.line}" if finding.line else finding.file
    message = cell(short_message(finding))
    if finding.remediation:
        message += f"<br>fix: {cell(finding.remediation)}"
    return (
        f"| {severity} | {cell(finding.policy)} | {cell(finding.resource.display())} | {message} | {cell(location)} |"
    )


def _waived_row(finding: Finding, waiver: AppliedWaiver) -> str:
    return (
        f"| {cell(finding.policy)} | {cell(finding.resource.display())} | {cell(waiver.id)}"
        f" | {cell(waiver.expires)} | {cell(waiver.owner)} | {cell(waiver.reason)} |"
    )


def _baselined_row(finding: Finding) -> str:
    since = finding.baseline.since if finding.baseline is not None else ""
    return (
        f"| {cell(finding.policy)} | {cell(finding.resource.display())} | {cell(short_message(finding))}"
        f" | {cell(since)} |"
    )


def _fixed_row(entry: BaselineEntry) -> str:
    return f"| {cell(entry.policy)} | {cell(entry.resource)} | {cell(entry.message)} | {cell(entry.since)} |"


def _expired_row(waiver: AppliedWaiver) -> str:
    return (
        f"| {cell(waiver.id)} | {cell(waiver.expires)} | {cell(waiver.owner)}"
        f" | {cell(waiver.ticket or '')} | {cell(waiver.reason)} |"
    )
