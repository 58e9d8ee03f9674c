"""The canary judgement as text, JSON, Markdown or an HTML page; `RENDERERS` is the one registry of formats."""

from __future__ import annotations

import json
from collections.abc import Callable

from rollguard.canary.result import Judgement, MetricResult

# Verdict → the line's wording in text and Markdown.
_HEADLINE = {
    "pass": "PASS",
    "marginal": "MARGINAL (passes with a warning)",
    "fail": "FAIL",
    "nodata": "NO DATA (nothing could be judged)",
}


def number(value: float | None) -> str:
    """A figure as reports print it: six significant digits, `-` when unknown."""
    return "-" if value is None else f"{value:.6g}"


def percent(value: float | None) -> str:
    """A relative effect as a signed percentage, `-` when unknown."""
    return "-" if value is None else f"{value * 100:+.1f}%"


def _interval(m: MetricResult) -> str:
    return f"[{number(m.interval[0])}, {number(m.interval[1])}]" if m.interval else "-"


def _headline(j: Judgement, fail_on_marginal: bool) -> str:
    headline = _HEADLINE[j.verdict]
    if j.verdict == "marginal" and fail_on_marginal:
        headline = "MARGINAL (fails: --fail-on-marginal)"
    return (
        f"canary {headline}: score {j.score:g} (pass ≥ {j.config.pass_score:g}, marginal ≥ {j.config.marginal_score:g})"
    )


def render_text(j: Judgement, *, fail_on_marginal: bool = False) -> str:
    """One block per metric with its figures, then the verdict and its reasons."""
    lines = [f"Source: {j.source}"]
    for m in j.metrics:
        flags = ", critical" if m.spec.critical else ""
        lines.append("")
        lines.append(
            f"{m.spec.name} [{m.spec.kind}, {m.spec.direction} is bad{flags}, weight {m.spec.weight:g}]: {m.outcome}"
        )
        lines.append(
            f"  baseline: {m.baseline.samples} samples, median {number(m.baseline.median)}{_dropped(m, 'baseline')}"
        )
        lines.append(f"  canary:   {m.canary.samples} samples, median {number(m.canary.median)}{_dropped(m, 'canary')}")
        if m.classification != "nodata":
            lines.append(
                f"  effect {number(m.effect)} ({percent(m.relative_effect)}), interval {_interval(m)}, "
                f"allowed ±{number(m.allowed)}, p-value {number(m.p_value)}: {m.classification}"
            )
        if m.classification == "nodata" or m.spec.kind == "trend":
            lines.append(f"  {m.reason}")
    lines.append("")
    lines.append(_headline(j, fail_on_marginal))
    lines.extend(f"  {r}" for r in j.reasons)
    return "\n".join(lines) + "\n"


def _dropped(m: MetricResult, side: str) -> str:
    summary = m.baseline if side == "baseline" else m.canary
    parts = []
    if summary.non_finite:
        parts.append(f"{summary.non_finite} NaN/Inf dropped")
    if summary.outliers:
        parts.append(f"{summary.outliers} outliers dropped")
    if summary.slope_per_hour is not None:
        parts.append(f"slope {number(summary.slope_per_hour)}/h")
    return f" ({'; '.join(parts)})" if parts else ""


def render_json(j: Judgement, *, fail_on_marginal: bool = False) -> str:
    """The documented JSON report (docs/canary.md)."""
    return json.dumps(j.to_json(fail_on_marginal=fail_on_marginal), indent=2, allow_nan=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(j: Judgement, *, fail_on_marginal: bool = False) -> str:
    """A table of the metrics under the verdict, for pull requests and pipeline summaries."""
    lines = [f"## {_cell(_headline(j, fail_on_marginal))}", ""]
    lines.extend(f"- {_cell(r)}" for r in j.reasons)
    if j.reasons:
        lines.append("")
    lines.append(
        "| Metric | Outcome | Class | Baseline median (n) | Canary median (n) | Effect | Interval | Allowed | p-value |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for m in j.metrics:
        name = f"**{_cell(m.spec.name)}**" if m.spec.critical else _cell(m.spec.name)
        lines.append(
            f"| {name} | {m.outcome} | {m.classification} | {number(m.baseline.median)} ({m.baseline.samples}) "
            f"| {number(m.canary.median)} ({m.canary.samples}) | {number(m.effect)} ({percent(m.relative_effect)}) "
            f"| {_interval(m)} | ±{number(m.allowed)} | {number(m.p_value)} |"
        )
    lines.append("")
    lines.append(f"Source: {_cell(j.source)}. Critical metrics are in bold.")
    return "\n".join(lines) + "\n"


def render_html(j: Judgement, *, fail_on_marginal: bool = False) -> str:
    """The self-contained HTML page with a baseline-vs-canary chart per metric."""
    from rollguard.canary.html import render_page

    return render_page(j, headline=_headline(j, fail_on_marginal))


Renderer = Callable[..., str]

RENDERERS: dict[str, Renderer] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}
