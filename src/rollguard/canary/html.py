"""The canary judgement as one self-contained HTML page: per metric its figures and an inline SVG
chart of the baseline's and the canary's samples over time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rollguard.canary.render import number, percent
from rollguard.canary.result import Judgement, MetricResult

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 28
# The most points drawn per series: more would make the page heavy without showing more.
MAX_DRAWN = 1500
COLOURS = {"baseline": "#4e79a7", "canary": "#e15759"}


@dataclass(frozen=True)
class Chart:
    """The geometry of one metric's chart: a line and a median per side, and the axis ticks."""

    lines: tuple[dict[str, str], ...]
    medians: tuple[dict[str, str], ...]
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]


def _drawn(points: Sequence[tuple[float, float]]) -> Sequence[tuple[float, float]]:
    if len(points) <= MAX_DRAWN:
        return points
    stride = -(-len(points) // MAX_DRAWN)
    return [*points[::stride], points[-1]]


def _elapsed(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.4g} h"
    if seconds >= 60:
        return f"{seconds / 60:.4g} min"
    return f"{seconds:.4g} s"


def chart(m: MetricResult) -> Chart:
    """Lines of both sides' samples against the time since the first sample, scaled to the chart's box."""
    sides = {"baseline": m.baseline, "canary": m.canary}
    points = [p for side in sides.values() for p in side.points]
    if not points:
        return Chart((), (), (), ())
    start = min(t for t, _ in points)
    span = (max(t for t, _ in points) - start) or 1.0
    low, high = min(v for _, v in points), max(v for _, v in points)
    if high == low:
        low, high = low - (abs(low) or 1.0) / 2, high + (abs(high) or 1.0) / 2
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return round(LEFT + inner_w * (t - start) / span, 1)

    def y(v: float) -> float:
        return round(TOP + inner_h * (1 - (v - low) / (high - low)), 1)

    lines = []
    medians = []
    for key, side in sides.items():
        drawn = _drawn(side.points)
        if drawn:
            d = "M" + "L".join(f"{x(t)},{y(v)}" for t, v in drawn)
            lines.append({"key": key, "label": f"{key} ({side.samples} samples)", "colour": COLOURS[key], "d": d})
        if side.median is not None:
            medians.append(
                {
                    "key": key,
                    "label": f"{key} median {number(side.median)}",
                    "colour": COLOURS[key],
                    "y": str(y(side.median)),
                }
            )
    y_ticks = tuple((y(low + (high - low) * i / 4), f"{low + (high - low) * i / 4:.4g}") for i in range(5))
    x_ticks = tuple((x(start + span * i / 4), _elapsed(span * i / 4)) for i in range(5))
    return Chart(tuple(lines), tuple(medians), x_ticks, y_ticks)


def render_page(j: Judgement, *, headline: str) -> str:
    """The page: the verdict and a summary table, then a section per metric with its chart."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("rollguard.canary", "templates"), autoescape=select_autoescape(default=True))
    metrics: list[dict[str, Any]] = [
        {
            "m": m,
            "chart": chart(m),
            "effect": number(m.effect),
            "relative": percent(m.relative_effect),
            "interval": f"{number(m.interval[0])} to {number(m.interval[1])}" if m.interval else "-",
            "allowed": number(m.allowed),
            "p_value": number(m.p_value),
            "baseline_median": number(m.baseline.median),
            "canary_median": number(m.canary.median),
        }
        for m in j.metrics
    ]
    page = env.get_template("canary.html.j2").render(
        j=j,
        headline=headline,
        metrics=metrics,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        bottom=HEIGHT - BOTTOM,
        top=TOP,
    )
    return page.rstrip("\n") + "\n"
