"""GitHub Actions workflow commands that annotate the changed files, one per finding."""

from __future__ import annotations

from typing import Literal

from rollguard.formats.text import verdict_line
from rollguard.model import AppliedWaiver, BaselineEntry, Decision, Finding, InputProblem

Level = Literal["error", "warning", "notice"]


def render(decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as `::error`/`::warning`/`::notice` commands and a summary line."""
    lines = [_finding_command(f, decision) for f in decision.findings]
    lines.extend(_problem_command(p) for p in decision.problems)
    lines.extend(_expired_waiver_command(w) for w in decision.expired_waivers)
    lines.extend(_fixed_command(e, decision) for e in decision.baseline_fixed)
    # The runner prints a line that is not a command as it is, so the log ends with the verdict.
    lines.append(f"rollguard {verdict_line(decision, color=color)}")
    return "\n".join(lines) + "\n"


def escape_data(text: str) -> str:
    """Escape a command's message the way GitHub's toolkit does (`%`, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property value: as data, plus `:` and `,` which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: Level, message: str, *, file: str | None = None, line: int | None = None, title: str = "") -> str:
    """One workflow command line, with every property and the message escaped."""
    props: list[str] = []
    if file:
        props.append(f"file={escape_property(file)}")
        if line is not None and line >= 1:
            props.append(f"line={line}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{escape_data(message)}"


def _level(finding: Finding, decision: Decision) -> Level:
    if finding.accepted or (finding.enforcement == "dryrun" and not finding.error):
        return "notice"
    if finding.error or finding.blocks(decision.fail_on):
        return "error"
    return "warning"


def _finding_command(finding: Finding, decision: Decision) -> str:
    notes = [finding.severity.label]
    if finding.error:
        notes.insert(0, "policy error")
    if finding.enforcement != "deny":
        notes.append(finding.enforcement)
    waiver = finding.waiver
    if waiver is not None and finding.waived:
        notes.append(f"{waiver.label}: {waiver.reason}")
    elif waiver is not None:
        notes.append(f"waiver {waiver.id} expired {waiver.expires}")
    baseline = finding.baseline
    if baseline is not None and finding.baselined:
        notes.append(f"baselined since {baseline.since}")
    elif baseline is not None:
        notes.append(f"baseline entry from {baseline.since} expired {baseline.expires}")
    message = f"{finding.message} ({'; '.join(notes)})"
    if finding.remediation and not finding.accepted:
        message += f"\nfix: {finding.remediation}"
    return command(_level(finding, decision), message, file=finding.file, line=finding.line, title=finding.policy)


def _problem_command(problem: InputProblem) -> str:
    return command("error", problem.message, file=problem.file, line=problem.line, title="rollguard: unusable input")


def _fixed_command(entry: BaselineEntry, decision: Decision) -> str:
    message = (
        f"{entry.message} (baselined since {entry.since}) is fixed; regenerate {decision.baseline}"
        f" with `rollguard baseline create PATHS --output {decision.baseline}` to drop its entry"
    )
    return command("notice", message, file=entry.file, title=f"rollguard: {entry.policy} fixed")


def _expired_waiver_command(waiver: AppliedWaiver) -> str:
    owner = f"owner {waiver.owner}" + (f", ticket {waiver.ticket}" if waiver.ticket else "")
    message = f"waiver {waiver.id} expired {waiver.expires} and no longer applies ({owner}): {waiver.reason}"
    return command("warning", message, title=f"rollguard: expired waiver {waiver.id}")
