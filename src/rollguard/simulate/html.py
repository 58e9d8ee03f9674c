"""The simulation as one self-contained HTML page: per workload its figures and an inline SVG
chart of ready, available and total pods over time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollguard.simulate.render import duration, resources
from rollguard.simulate.result import SimulationReport, TimelineEvent, WorkloadSimulation

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 36, 12, 28
# The series drawn (widest first, so a line drawn over another leaves it visible): their key in
# a timeline event, label, colour and stroke width.
SERIES = (
    ("present", "pods with terminating", "#c0c4cc", 7),
    ("total", "pods counted", "#4e79a7", 5),
    ("ready", "ready", "#59a14f", 3),
    ("available", "available", "#f28e2b", 1.5),
)


@dataclass(frozen=True)
class Chart:
    """The geometry of one workload's chart: a step line per series, and the axis ticks."""

    lines: tuple[dict[str, str], ...]
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    floor: float | None  # the y of replicas − maxUnavailable
    ceiling: float | None  # the y of replicas + maxSurge


def _settled(timeline: tuple[TimelineEvent, ...]) -> list[TimelineEvent]:
    """The last event of each instant: the counts once the controller is done acting at it."""
    last: dict[float, TimelineEvent] = {}
    for e in timeline:
        last[e.t] = e
    return [last[t] for t in sorted(last)]


def _value(e: TimelineEvent, key: str) -> int:
    return e.total + e.terminating if key == "present" else int(getattr(e, key))


def chart(w: WorkloadSimulation) -> Chart:
    """Step lines of the workload's pod counts, scaled to the chart's box."""
    points = _settled(w.timeline)
    end = max((e.t for e in points), default=0.0) or 1.0
    top = max([_value(e, "present") for e in points] + [w.replicas + w.max_surge, 1])
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return round(LEFT + inner_w * t / end, 1)

    def y(count: float) -> float:
        return round(TOP + inner_h * (1 - count / top), 1)

    lines = []
    for key, label, colour, stroke in SERIES:
        path: list[str] = []
        for i, e in enumerate(points):
            if i == 0:
                path.append(f"M{x(e.t)},{y(_value(e, key))}")
            else:
                path.append(f"H{x(e.t)}V{y(_value(e, key))}")
        if points:
            path.append(f"H{x(end)}")
        lines.append({"key": key, "label": label, "colour": colour, "width": str(stroke), "d": "".join(path)})
    step = max(1, -(-top // 5))
    y_ticks = tuple((y(n), str(n)) for n in range(0, top + 1, step))
    x_ticks = tuple((x(end * i / 4), duration(round(end * i / 4, 1))) for i in range(5))
    floor = y(w.replicas - w.max_unavailable) if w.kind == "Deployment" else None
    ceiling = y(w.replicas + w.max_surge) if w.kind == "Deployment" else None
    return Chart(tuple(lines), x_ticks, y_ticks, floor, ceiling)


def render_html(report: SimulationReport) -> str:
    """The page: a summary table, then a section per workload with its chart and estimates."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("rollguard.simulate", "templates"), autoescape=select_autoescape(default=True)
    )
    workloads: list[dict[str, Any]] = [
        {
            "w": w,
            "chart": chart(w),
            "duration": duration(w.duration_seconds),
            "rollback": duration(w.rollback_seconds),
            "settled": duration(w.settled_seconds),
            "requests": resources(w.peak_requests),
            "limits": resources(w.peak_limits),
        }
        for w in report.workloads
    ]
    page = env.get_template("simulation.html.j2").render(
        workloads=workloads,
        comparisons=[
            {
                "workload": c.workload,
                "recommended": c.recommended,
                "reason": c.reason,
                "candidates": [
                    {
                        "name": k.name,
                        "exposed": f"{k.exposed_percent:g}%",
                        "peak": k.simulation.peak_pods_with_terminating,
                        "requests": resources(k.simulation.peak_requests),
                        "duration": duration(k.simulation.duration_seconds),
                        "rollback": duration(k.simulation.rollback_seconds),
                    }
                    for k in c.candidates
                ],
            }
            for c in report.comparisons
        ],
        problems=[p.display() for p in (*report.problems, *report.failures)],
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        bottom=HEIGHT - BOTTOM,
        top=TOP,
    )
    return page.rstrip("\n") + "\n"
