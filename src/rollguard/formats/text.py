"""Human-readable terminal report: findings grouped by resource, then a one-line verdict."""

from __future__ import annotations

import re

from rollguard.model import AppliedWaiver, BaselineEntry, Decision, Finding, Resource, Severity

_RESET = "\033[0m"
_BOLD = "\033[1m"
_DIM = "\033[2m"
_SEVERITY_COLORS = {
    Severity.CRITICAL: "\033[1;35m",
    Severity.HIGH: "\033[1;31m",
    Severity.MEDIUM: "\033[33m",
    Severity.LOW: "\033[36m",
    Severity.INFO: "\033[2m",
}
_ERROR_COLOR = "\033[1;37;41m"
_VERDICT_COLORS = {"pass": "\033[1;32m", "fail": "\033[1;31m"}

# Wide enough for the longest label, CRITICAL, plus one space.
_LABEL_WIDTH = 9

# Control characters from policy messages or file names must not reach the terminal as escapes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def render(decision: Decision, *, color: bool = False) -> str:
    """Render `decision` for a terminal; ANSI colour only when `color` is true."""
    paint = _Painter(color)
    blocks: list[str] = []

    groups = _group_by_resource(decision.findings)
    policy_width = max((len(f.policy) for f in decision.findings), default=0)
    for (resource, file), findings in groups:
        line = _first_line(findings)
        header = paint(_BOLD, _terminal_line(resource.display()))
        if file:
            header += f"  ({_terminal_line(_location(file, line))})"
        lines = [header]
        # Each finding shows its own fix; one its policy already gave word for word here is not repeated.
        advised: set[tuple[str, str]] = set()
        for finding in findings:
            fix = (finding.policy, finding.remediation)
            lines.extend(_finding_lines(finding, decision, paint, policy_width, line, advise=fix not in advised))
            if not finding.accepted:
                advised.add(fix)
        blocks.append("\n".join(lines))

    if decision.problems:
        lines = [paint(_BOLD, "Input errors")]
        lines.extend(f"  {_terminal_line(p.display())}" for p in decision.problems)
        blocks.append("\n".join(lines))

    if decision.links:
        lines = [paint(_BOLD, "Links between artifacts")]
        lines.extend(
            f"  {_terminal_line(link.source)} {link.relation} in {_terminal_line(link.target)}"
            for link in decision.links
        )
        blocks.append("\n".join(lines))

    if decision.releases:
        lines = [paint(_BOLD, f"Releases: {len(decision.releases)}, each judged as its own change (--release-by)")]
        for release in decision.releases:
            files = sorted({a.file for a in release.artifacts})
            shown = ", ".join(_terminal_line(f) for f in files[:3]) + (
                f" and {len(files) - 3} more" if files[3:] else ""
            )
            where = "" if release.name.startswith("directory ") else f" in {shown}"
            count = len(release.artifacts)
            lines.append(f"  {_terminal_line(release.name)}: {count} document{'' if count == 1 else 's'}{where}")
        blocks.append("\n".join(lines))

    if decision.unjudged:
        lines = [paint(_BOLD, "Not judged: no selected policy applies to these kinds")]
        by_kind: dict[str, list[Resource]] = {}
        for resource in decision.unjudged:
            by_kind.setdefault(resource.kind, []).append(resource)
        for kind, resources in sorted(by_kind.items()):
            names = ", ".join(_terminal_line(r.display().split(" ", 1)[1]) for r in resources[:5])
            more = f" and {len(resources) - 5} more" if len(resources) > 5 else ""
            lines.append(f"  {_terminal_line(kind)} ({len(resources)}): {names}{more}")
        blocks.append("\n".join(lines))

    if decision.expired_waivers:
        lines = [paint(_BOLD, "Expired waivers (no longer applied)")]
        lines.extend(f"  {_expired_waiver_line(w)}" for w in decision.expired_waivers)
        blocks.append("\n".join(lines))

    if decision.baseline_fixed:
        n = len(decision.baseline_fixed)
        entries = "its entry" if n == 1 else "their entries"
        regenerate = f"rollguard baseline create PATHS --output {decision.baseline}"
        header = f"{_count(n, 'baselined finding')} fixed; regenerate the baseline to drop {entries}: {regenerate}"
        lines = [paint(_BOLD, _terminal_line(header))]
        lines.extend(f"  {_fixed_line(e)}" for e in decision.baseline_fixed)
        blocks.append("\n".join(lines))

    blocks.append(verdict_line(decision, color=color))
    return "\n\n".join(blocks) + "\n"


def verdict_line(decision: Decision, *, color: bool = False) -> str:
    """One line such as `FAIL: 7 findings (3 blocking at >= high) in 5 resources, 23 policies, engine opa`."""
    verdict = decision.verdict.upper()
    if color:
        verdict = f"{_VERDICT_COLORS[decision.verdict]}{verdict}{_RESET}"
    return f"{verdict}: {summary_text(decision)}"


def summary_text(decision: Decision) -> str:
    """The verdict line without the verdict: counts, threshold, engine and environment."""
    s = decision.summary()
    text = _count(s["findings"], "finding")
    if s["findings"]:
        text += f" ({s['blocking']} blocking at >= {s['fail_on']})"
    text += (
        f" in {_count(s['resources'], 'resource')}, {_count(s['policies'], 'policy', 'policies')},"
        f" engine {decision.engine}"
    )
    if decision.environment:
        text += f", environment {decision.environment}"
    if decision.approval:
        text += f", approval {decision.approval}"
    extras = []
    if s["waived"]:
        extras.append(f"{s['waived']} waived")
    if s.get("baselined"):
        extras.append(f"{s['baselined']} baselined")
    expired = sum(1 for f in decision.findings if f.baseline is not None and f.baseline.status == "expired")
    if expired:
        extras.append(_count(expired, "expired baseline entry", "expired baseline entries"))
    if decision.baseline_fixed:
        extras.append(f"{len(decision.baseline_fixed)} baselined fixed")
    if s["errors"]:
        extras.append(_count(s["errors"], "policy error"))
    if s["input_errors"]:
        extras.append(_count(s["input_errors"], "input error"))
    if decision.expired_waivers:
        extras.append(_count(len(decision.expired_waivers), "expired waiver"))
    if decision.unjudged:
        extras.append(f"{len(decision.unjudged)} not judged")
    if decision.since is not None:
        since = decision.since
        files = since.judged_files + since.context_files
        extras.append(
            f"judged {_count(since.judged_files, 'changed file')} of {files} since {_terminal_line(since.ref)}"
        )
        extras.append(
            f"{_count(since.context_files, 'unchanged file')} ({_count(since.context_resources, 'resource')}) gave context"
        )
    return "; ".join([text, *extras])


def short_message(finding: Finding) -> str:
    """The finding's message without a leading `Kind namespace/name: ` that repeats its resource."""
    prefix = f"{finding.resource.display()}: "
    return finding.message[len(prefix) :] if finding.message.startswith(prefix) else finding.message


class _Painter:
    """Wraps text in an ANSI style when colour is on, and passes it through otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if self.enabled else text


def _group_by_resource(findings: tuple[Finding, ...]) -> list[tuple[tuple[Resource, str | None], list[Finding]]]:
    groups: dict[tuple[Resource, str | None], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.resource, finding.file), []).append(finding)
    for members in groups.values():
        # Errors lead (the policy said nothing at all), then most severe first; waived and baselined ones last.
        members.sort(key=lambda f: (f.accepted, not f.error, -f.severity, f.policy))
    # Resources in file order so the report reads like the manifests; unlocated ones last.
    return sorted(
        groups.items(),
        key=lambda item: (item[0][1] is None, item[0][1] or "", _first_line(item[1]) or 0, item[0][0].display()),
    )


def _finding_lines(
    finding: Finding,
    decision: Decision,
    paint: _Painter,
    policy_width: int,
    header_line: int | None,
    *,
    advise: bool = True,
) -> list[str]:
    if finding.error:
        name, style = "ERROR", _ERROR_COLOR
    else:
        name, style = finding.severity.name, _SEVERITY_COLORS[finding.severity]
    if finding.accepted:
        style = _DIM
    label = paint(style, name) + " " * (_LABEL_WIDTH - len(name))
    line = f"  {label}{finding.policy:<{policy_width}}  {_terminal_line(short_message(finding))}"
    if finding.line is not None and finding.line != header_line:
        line += f" (line {finding.line})"
    marks = _marks(finding, decision)
    if marks:
        line += f" {marks}"
    lines = [line]
    if advise and finding.remediation and not finding.accepted:
        lines.append(f"{' ' * (2 + _LABEL_WIDTH)}fix: {_terminal_line(finding.remediation)}")
    return lines


def _marks(finding: Finding, decision: Decision) -> str:
    marks: list[str] = []
    if finding.enforcement != "deny":
        marks.append(f"[{finding.enforcement}]")
    waiver = finding.waiver
    if waiver is not None and waiver.status == "applied":
        marks.append(f"({waiver.label})")
    elif waiver is not None:
        marks.append(f"(waiver {waiver.id} expired {waiver.expires})")
    baseline = finding.baseline
    if baseline is not None and baseline.status == "baselined":
        marks.append(f"(baselined since {baseline.since})")
    elif baseline is not None:
        marks.append(f"(baseline entry from {baseline.since} expired {baseline.expires})")
    if finding.blocks(decision.fail_on):
        marks.append("[blocking]")
    return " ".join(marks)


def _expired_waiver_line(waiver: AppliedWaiver) -> str:
    who = f"owner {waiver.owner}" + (f", ticket {waiver.ticket}" if waiver.ticket else "")
    return _terminal_line(f"{waiver.id}  expired {waiver.expires} ({who}): {waiver.reason}")


def _fixed_line(entry: BaselineEntry) -> str:
    where = f"  ({entry.file})" if entry.file else ""
    return _terminal_line(f"{entry.policy}  {entry.resource}{where}: {entry.message} (baselined since {entry.since})")


def _terminal_line(text: str) -> str:
    """`text` safe on one terminal line: line breaks become spaces and control characters U+FFFD.

    Unlike `errors.one_line`, spacing within a line is kept: it aligns columns of the report.
    """
    return _CONTROL.sub("\ufffd", " ".join(text.splitlines()))


def _first_line(findings: list[Finding]) -> int | None:
    return min((f.line for f in findings if f.line is not None), default=None)


def _location(file: str, line: int | None) -> str:
    return f"{file}:{line}" if line else file


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
