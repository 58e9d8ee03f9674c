"""A self-contained HTML page: findings grouped by artifact, and the links between artifacts."""

from __future__ import annotations

from typing import Any

from rollguard.formats.text import summary_text
from rollguard.model import Decision, Finding


def _effect(f: Finding, decision: Decision) -> tuple[str, str]:
    """What the finding does to the verdict, and the CSS class that shows it."""
    if f.waived and f.waiver is not None:
        return f.waiver.label, "waived"
    if f.baselined and f.baseline is not None:
        return f"baselined since {f.baseline.since}", "waived"
    if f.blocks(decision.fail_on) and f.baseline is not None:
        return f"blocking (baseline entry from {f.baseline.since} expired {f.baseline.expires})", "blocking"
    if f.blocks(decision.fail_on):
        return "blocking", "blocking"
    return f.enforcement if f.enforcement != "deny" else "below threshold", ""


def render(decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as one HTML page with no external resources; `color` is ignored."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in decision.findings:
        key = (f.resource.display(), f.file or "")  # one section per artifact, as in the text report
        effect, css = _effect(f, decision)
        groups.setdefault(key, []).append(
            {
                "severity": f.severity.label,
                "policy": f.policy,
                "message": f.message if not f.line else f"{f.message} (line {f.line})",
                "remediation": f.remediation,
                "effect": effect,
                "css": css,
            }
        )
    env = Environment(
        loader=PackageLoader("rollguard.formats", "templates"), autoescape=select_autoescape(default=True)
    )
    return (
        env.get_template("check.html.j2")
        .render(
            verdict=decision.verdict,
            summary_line=summary_text(decision),
            groups=[{"title": title, "location": where, "findings": items} for (title, where), items in groups.items()],
            links=decision.links,
            problems=[p.display() for p in decision.problems],
            baseline=decision.baseline,
            fixed=decision.baseline_fixed,
        )
        .rstrip("\n")
        + "\n"
    )
