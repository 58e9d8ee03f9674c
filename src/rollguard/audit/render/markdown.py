"""The audit report as Markdown: the HTML report's sections, as tables, for wikis and tickets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rollguard.audit.render.labels import (
    CONTROL_RESULTS,
    CONTROLS_INTRO,
    OUTCOME_HEADINGS,
    SECTIONS,
    WAIVER_HEADINGS,
    chain_summary,
    control_label,
    env_label,
    head_label,
    period_label,
    short_digest,
    short_hash,
)
from rollguard.audit.report import ControlEvidence, DecisionEntry, Report
from rollguard.formats.markdown import cell


@dataclass(frozen=True)
class _Link:
    """A table cell that links `text` to `url` (a URL `audit.record.ci_links` checked), or plain text."""

    text: str
    url: str | None

    def markdown(self) -> str:
        return f"[{cell(self.text)}]({self.url})" if self.url else cell(self.text)


def render(report: Report) -> str:
    """Render `report` as GitHub-flavoured Markdown."""
    out = [f"# {SECTIONS['title']}", ""]
    out += _table(
        ["", ""],
        [
            ["Period", period_label(report.period)],
            ["Environment", report.environment or "all"],
            ["Decision store", report.store],
            ["Config", report.config or "—"],
            ["Generated", report.generated_at],
            ["rollguard", report.rollguard_version],
        ],
    )
    out += _summary(report)
    out += _trend(report)
    out += _top_policies(report)
    out += _register(report)
    out += _decisions(report)
    out += _waivers(report)
    out += _controls(report)
    out += _chain(report)
    return "\n".join(out).rstrip() + "\n"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], *, right: Sequence[int] = ()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    lines += [
        "| " + " | ".join(c.markdown() if isinstance(c, _Link) else cell(str(c)) for c in row) + " |" for row in rows
    ]
    return [*lines, ""]


def _summary(report: Report) -> list[str]:
    t = report.totals
    out = [f"## {SECTIONS['summary']}", ""]
    if not report.chain.ok:
        out += [f"**{cell(chain_summary(report.chain))}**", ""]
    rows: list[list[object]] = [
        ["decisions", t.decisions],
        ["passed", t.passed],
        ["passed with waivers", t.passed_with_waivers],
        ["failed", t.failed],
        ["findings (not waived)", t.findings],
        ["blocking findings", t.blocking],
        ["waived findings", t.waived_findings],
    ]
    rows += [[f"source: {source}", n] for source, n in t.by_source.items()]
    out += _table(["", "count"], rows, right=[1])
    if report.environments:
        out += _table(
            ["environment", "decisions", "passed", "failed"],
            [[e.label, e.total, e.passed, e.failed] for e in report.environments],
            right=[1, 2, 3],
        )
    return out


def _trend(report: Report) -> list[str]:
    out = [f"## {SECTIONS['trend']}", ""]
    if not report.daily:
        return [*out, "No decisions in this period.", ""]
    envs = [e.label for e in report.environments]
    header = ["day", "passed", "failed", *[f"{e} (passed/failed)" for e in envs]]
    rows = [
        [day.day, day.passed, day.failed, *[f"{e.passed}/{e.failed}" for e in day.environments]] for day in report.daily
    ]
    return out + _table(header, rows, right=list(range(1, len(header))))


def _top_policies(report: Report) -> list[str]:
    out = [f"## {SECTIONS['policies']}", ""]
    if not report.top_policies:
        return [*out, "No finding stood unwaived in this period.", ""]
    rows = [[p.policy, p.severity, p.blocking, p.findings, p.decisions, p.title] for p in report.top_policies]
    return out + _table(
        ["policy", "severity", "blocking", "findings (not waived)", "decisions affected", "title"],
        rows,
        right=[2, 3, 4],
    )


def _register(report: Report) -> list[str]:
    out = [f"## {SECTIONS['decisions']}", ""]
    if not report.decisions:
        return [*out, "No decisions in this period.", ""]
    out += ["Policy bundles and configurations that took the decisions:", ""]
    out += _table(
        ["bundle", "configuration", "decisions", "first", "last", "environments"],
        [
            [
                short_digest(c.bundle_digest),
                short_digest(c.config_digest),
                c.decisions,
                c.first,
                c.last,
                ", ".join(c.environments),
            ]
            for c in report.configurations
        ],
        right=[2],
    )
    rows = [
        [
            d.seq,
            d.time,
            env_label(d.environment),
            d.source,
            d.verdict.upper() + (" (waivers)" if d.waived else ""),
            d.approval or "—",
            d.actor or "—",
            _Link(d.commit[:12] if d.commit else "—", d.commit_url),
            _Link(d.run_id or ("run" if d.run_url else "—"), d.run_url),
            short_digest(d.config_digest),
        ]
        for d in report.decisions
    ]
    return out + _table(
        ["decision", "time", "environment", "source", "verdict", "approval", "actor", "commit", "run", "configuration"],
        rows,
        right=[0],
    )


def _decisions(report: Report) -> list[str]:
    out = [f"## {SECTIONS['failed']}", ""]
    listed = report.listed_decisions
    if not listed:
        return [*out, "Every decision of the period passed without a waiver.", ""]
    for d in listed:
        out += _decision(d)
    return out


def _decision(d: DecisionEntry) -> list[str]:
    out = [f"### Decision {d.seq}: {d.verdict.upper()} · {env_label(d.environment)} · {d.time}", ""]
    meta = [
        f"recorded {d.recorded_at or '—'}",
        f"source {cell(d.source)}",
        f"actor {cell(d.actor or '—')}",
        f"approval {cell(d.approval or '—')}",
        f"commit {_Link(d.commit or '—', d.commit_url).markdown()}",
        f"run {_Link(d.run_id or ('run' if d.run_url else '—'), d.run_url).markdown()}",
        f"exit code {d.exit_code} (fails at {d.fail_on})",
        f"configuration {_code(short_digest(d.config_digest))}",
        f"bundle {_code(short_digest(d.bundle_digest))}",
        f"record hash `{short_hash(d.hash)}`",
    ]
    if d.dry_run:
        meta.append("dry run")
    out += [" · ".join(meta), ""]
    if d.errors:
        out += ["Unusable input:", ""] + [f"- {cell(e)}" for e in d.errors] + [""]
    if d.findings:
        rows = [
            [
                f.policy,
                "error" if f.error else f.severity,
                f.effect,
                f.resource.display(),
                f.message,
                f"{f.waiver.id} ({f.waiver.status}, expires {f.waiver.expires})" if f.waiver else "—",
            ]
            for f in d.findings
        ]
        out += _table(["policy", "severity", "effect", "resource", "message", "waiver"], rows)
    return out


def _code(text: str) -> str:
    """`text` as inline code, or the dash that stands for nothing recorded as it is."""
    return text if text == "—" else f"`{text}`"


def _waivers(report: Report) -> list[str]:
    out = [f"## {SECTIONS['waivers']}", ""]
    if not report.waivers:
        return [*out, "No waiver was referenced or configured.", ""]
    for state, heading in WAIVER_HEADINGS.items():
        waivers = report.waivers_in(state)
        out += [f"### {heading} ({len(waivers)})", ""]
        if not waivers:
            out += ["None.", ""]
            continue
        rows = [
            [
                w.id,
                ", ".join(w.policies) or "—",
                w.expires,
                w.days_left,
                w.owner,
                w.ticket or "—",
                f"{w.findings} ({w.findings_expired} after expiry)",
                w.decisions,
                ", ".join(w.sources),
                w.reason,
            ]
            for w in waivers
        ]
        out += _table(
            [
                "waiver",
                "policies",
                "expires",
                "days left",
                "owner",
                "ticket",
                "findings",
                "decisions",
                "from",
                "reason",
            ],
            rows,
            right=[3, 7],
        )
    return out


def _controls(report: Report) -> list[str]:
    out = [f"## {SECTIONS['controls']}", ""]
    if not report.controls:
        return [*out, "No recorded policy maps to a control.", ""]
    out += [CONTROLS_INTRO, ""]
    out += _table(
        ["control", "title", "result", "policies", "passed", "blocked", "waived", "failed", "decisions"],
        [
            [
                c.control,
                c.title or "—",
                CONTROL_RESULTS[c.result],
                len(c.policies),
                c.passes,
                c.blocked,
                c.waived,
                c.fails,
                c.decisions,
            ]
            for c in report.controls
        ],
        right=[3, 4, 5, 6, 7, 8],
    )
    for control in report.controls:
        out += _control(control)
    return out


def _control(c: ControlEvidence) -> list[str]:
    out = [
        f"### {control_label(c)}",
        "",
        *([f"{cell(c.framework)}", ""] if c.framework else []),
        f"**{CONTROL_RESULTS[c.result]}** · passed {c.passes} · blocked {c.blocked} · waived {c.waived} · "
        f"failed {c.fails} · decisions {c.decisions} ({c.decisions_blocked} blocked, {c.decisions_failed} failed)",
        "",
    ]
    out += _table(
        ["policy", "passed", "blocked", "waived", "failed"],
        [[p.policy, p.passes, p.blocked, p.waived, p.fails] for p in c.policies],
        right=[1, 2, 3, 4],
    )
    if c.findings:
        rows = [
            [
                f.seq,
                f.time,
                env_label(f.environment),
                f.verdict,
                f.policy,
                f.resource.display(),
                OUTCOME_HEADINGS[f.outcome],
                f.messages[0] if f.messages else "",
            ]
            + ([f"(+{len(f.messages) - 1} more)"] if len(f.messages) > 1 else [""])
            for f in c.findings
        ]
        out += _table(
            ["decision", "time", "environment", "verdict", "policy", "resource", "outcome", "finding", ""], rows
        )
    return out


def _chain(report: Report) -> list[str]:
    c = report.chain
    out = [f"## {SECTIONS['chain']}", "", f"**{cell(chain_summary(c))}**", ""]
    out += _table(
        ["", ""],
        [
            ["result", "intact" if c.ok else "BROKEN"],
            ["records in the store", c.records],
            ["head", head_label(c)],
            ["broken at record", c.broken_at if c.broken_at is not None else "—"],
            ["problem", c.problem or "—"],
        ],
    )
    return out
