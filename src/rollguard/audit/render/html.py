"""The audit report as one self-contained, printable HTML page: a jinja2 template, inline CSS and SVG."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from rollguard.audit.render.charts import daily_chart, policy_chart
from rollguard.audit.render.labels import (
    CONTROL_RESULTS,
    CONTROLS_INTRO,
    OUTCOME_HEADINGS,
    SECTION_ORDER,
    SECTIONS,
    WAIVER_HEADINGS,
    chain_summary,
    env_label,
    period_label,
    short_digest,
    short_hash,
)
from rollguard.audit.report import Report

TEMPLATE = "report.html.j2"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rollguard.audit", "templates"),
        autoescape=True,  # every value comes from manifests, records or config: always escape
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the render instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(report: Report) -> str:
    """Render `report` as a standalone HTML document (no scripts, no external resources).

    The only links that leave the page are to a decision's commit and CI run, plain anchors
    built from checked URLs (`audit.record.ci_links`): nothing is loaded from them.
    """
    template = _environment().get_template(TEMPLATE)
    return template.render(
        report=report,
        sections=SECTIONS,
        section_order=SECTION_ORDER,
        waiver_headings=WAIVER_HEADINGS,
        outcome_headings=OUTCOME_HEADINGS,
        control_results=CONTROL_RESULTS,
        controls_intro=CONTROLS_INTRO,
        period_label=period_label,
        short_digest=short_digest,
        chain_summary=chain_summary(report.chain),
        daily_chart=daily_chart(report.daily),
        policy_chart=policy_chart(report.top_policies),
        env_label=env_label,
        short_hash=short_hash,
    )
