"""The audit report as Markdown: the HTML report's sections, as tables, for wikis and tickets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rollguard.audit.render.labels import (
    SECTIONS,
    WAIVER_HEADINGS,
    chain_summary,
    env_label,
    head_label,
    short_hash,
)
from rollguard.audit.report import ControlEvidence, DecisionEntry, Report
from rollguard.formats.markdown import cell


def render(report: Report) -> str:
    """Render `report` as GitHub-flavoured Markdown."""
    out = [f"# {SECTIONS['title']}", ""]
    out += _table(
        ["", ""],
        [
            ["Period", report.period.describe()],
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
    out += _decisions(report)
    out += _waivers(report)
    out += _controls(report)
    out += _chain(report)
    return "\n".join(out).rstrip() + "\n"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], *, right: Sequence[int] = ()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(str(c)) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _summary(report: Report) -> list[str]:
    t = report.totals
    out = [f"## {SECTIONS['summary']}", ""]
    if not report.chain.ok:
        out += [f"**{cell(chain_summary(report.chain))}**", ""]
    rows: list[list[object]] = [
        ["decisions", t.decisions],
        ["passed", t.passed],
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


def _decisions(report: Report) -> list[str]:
    out = [f"## {SECTIONS['decisions']}", ""]
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
        f"commit {cell(d.commit or '—')}",
        f"run {cell(d.run_id or '—')}",
        f"exit code {d.exit_code} (fails at {d.fail_on})",
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
    out += [
        "A pass is a (decision, policy, resource) the policy judged without an unwaived finding; "
        "a fail is one with an unwaived finding.",
        "",
    ]
    out += _table(
        ["control", "result", "policies", "passes", "fails", "decisions", "decisions failing"],
        [
            [c.control, c.result, len(c.policies), c.passes, c.fails, c.decisions, c.decisions_failed]
            for c in report.controls
        ],
        right=[2, 3, 4, 5, 6],
    )
    for control in report.controls:
        out += _control(control)
    return out


def _control(c: ControlEvidence) -> list[str]:
    out = [
        f"### {c.control}",
        "",
        f"**{c.result}** · passes {c.passes} · fails {c.fails} · decisions {c.decisions} "
        f"({c.decisions_failed} with failures)",
        "",
    ]
    out += _table(["policy", "passes", "fails"], [[p.policy, p.passes, p.fails] for p in c.policies], right=[1, 2])
    if c.failures:
        rows = [
            [f.seq, f.time, env_label(f.environment), f.verdict, f.policy, f.resource.display(), f.messages[0]]
            + ([f"(+{len(f.messages) - 1} more)"] if len(f.messages) > 1 else [""])
            for f in c.failures
        ]
        out += _table(["decision", "time", "environment", "verdict", "policy", "resource", "finding", ""], rows)
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
