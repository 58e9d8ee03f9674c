"""Inline SVG charts for the HTML report, drawn in Python so the page needs no script or network."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from rollguard.audit.report import DayTrend, PolicyFailures

PASS_COLOR = "#2e7d32"
FAIL_COLOR = "#c62828"
WARN_COLOR = "#f0a020"
AXIS_COLOR = "#6b7280"
GRID_COLOR = "#e5e7eb"
FONT = "font-family:'DejaVu Sans',Arial,sans-serif"

# The page is A4 with 14 mm margins: about 700 CSS px of width to draw on.
WIDTH = 700
# Beyond this many policies the chart stops being readable on paper; the table lists them all.
MAX_POLICY_BARS = 15


def daily_chart(days: Sequence[DayTrend]) -> Markup:
    """A stacked bar per day: passed decisions at the bottom, failed ones on top."""
    height, left, right, top, bottom = 240, 40, 10, 28, 44
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    parts = [_open(height, "Passed and failed decisions per day")]
    parts += _legend([(PASS_COLOR, "passed"), (FAIL_COLOR, "failed")], x=left, y=10)
    if not days:
        parts.append(_text(WIDTH / 2, top + plot_h / 2, "No decisions in this period", anchor="middle"))
        return Markup("".join([*parts, "</svg>"]))
    peak = max(d.total for d in days)
    step = _tick_step(peak)
    scale_max = max(step, math.ceil(peak / step) * step)
    for tick in range(0, scale_max + 1, step):
        y = top + plot_h - plot_h * tick / scale_max
        parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOR}"/>')
        parts.append(_text(left - 6, y + 4, str(tick), anchor="end"))
    slot = plot_w / len(days)
    bar = max(1.0, slot * 0.7)
    label_every = max(1, math.ceil(len(days) / 12))
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        passed_h = plot_h * day.passed / scale_max
        failed_h = plot_h * day.failed / scale_max
        base = top + plot_h
        title = f"{day.day}: {day.passed} passed, {day.failed} failed"
        parts.append(f"<g><title>{escape(title)}</title>")
        if day.passed:
            parts.append(_rect(x, base - passed_h, bar, passed_h, PASS_COLOR))
        if day.failed:
            parts.append(_rect(x, base - passed_h - failed_h, bar, failed_h, FAIL_COLOR))
        parts.append("</g>")
        if i % label_every == 0:
            parts.append(_text(x + bar / 2, base + 16, day.day[5:], anchor="middle"))
    parts.append(
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{AXIS_COLOR}"/>'
    )
    parts.append(_text(left, height - 6, f"UTC days, {days[0].day} to {days[-1].day}"))
    return Markup("".join([*parts, "</svg>"]))


def policy_chart(policies: Sequence[PolicyFailures]) -> Markup:
    """A horizontal bar per policy: blocking findings, then the other unwaived ones."""
    shown = list(policies[:MAX_POLICY_BARS])
    row, label_w, top = 24, 190, 30
    height = top + max(1, len(shown)) * row + 24
    parts = [_open(height, "Unwaived findings per policy")]
    parts += _legend([(FAIL_COLOR, "blocking"), (WARN_COLOR, "not blocking")], x=label_w, y=10)
    if not shown:
        parts.append(_text(WIDTH / 2, top + row / 2 + 4, "No unwaived findings in this period", anchor="middle"))
        return Markup("".join([*parts, "</svg>"]))
    peak = max(p.findings for p in shown)
    plot_w = WIDTH - label_w - 110  # room on the right for the count
    for i, p in enumerate(shown):
        y = top + i * row
        blocking_w = plot_w * p.blocking / peak
        other_w = plot_w * (p.findings - p.blocking) / peak
        title = f"{p.policy}: {p.findings} findings, {p.blocking} blocking, in {p.decisions} decisions"
        parts.append(f"<g><title>{escape(title)}</title>")
        parts.append(_text(label_w - 8, y + 15, p.policy, anchor="end"))
        if blocking_w:
            parts.append(_rect(label_w, y + 4, blocking_w, row - 8, FAIL_COLOR))
        if other_w:
            parts.append(_rect(label_w + blocking_w, y + 4, other_w, row - 8, WARN_COLOR))
        parts.append(_text(label_w + blocking_w + other_w + 6, y + 15, f"{p.findings} ({p.blocking} blocking)"))
        parts.append("</g>")
    if len(policies) > len(shown):
        parts.append(_text(label_w, height - 6, f"{len(policies) - len(shown)} more policies in the table below"))
    return Markup("".join([*parts, "</svg>"]))


def _open(height: int, label: str) -> str:
    # No xmlns: inline SVG in HTML needs none, and the page must not name any URL.
    return (
        f'<svg class="chart" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
    )


def _legend(entries: Sequence[tuple[str, str]], *, x: float, y: float) -> list[str]:
    parts = []
    for color, label in entries:
        parts.append(_rect(x, y, 12, 12, color))
        parts.append(_text(x + 17, y + 10, label))
        x += 30 + 7 * len(label)
    return parts


def _rect(x: float, y: float, w: float, h: float, color: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}"/>'


def _text(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="11" fill="#111827" '
        f'style="{FONT}">{escape(text)}</text>'
    )


def _tick_step(peak: int) -> int:
    """A 1-2-5 step that gives at most five grid lines up to `peak`."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if peak / step <= 5:
                return step
        magnitude *= 10
