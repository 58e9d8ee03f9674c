"""The simulation report as text, markdown and JSON: one renderer per format, in one registry."""

from __future__ import annotations

import json
from collections.abc import Callable

from rollguard.simulate.result import Resources, SimulationReport, WorkloadSimulation


def duration(seconds: float | None) -> str:
    """`45 s`, `12m 30s`, `1h 05m`; `unbounded` for None."""
    if seconds is None:
        return "unbounded"
    whole = round(seconds)
    if whole < 120:
        return f"{seconds:g} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def memory(count: int) -> str:
    """Bytes in the largest binary unit that keeps one decimal: `512 MiB`, `2.5 GiB`."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= factor:
            return f"{count / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} B"


def resources(r: Resources) -> str:
    """`cpu 2.75, memory 2.8 GiB`; a resource no container sets shows as `not set`, not as 0."""
    cpu = f"{r.cpu:g}" if r.cpu else "not set"
    mem = memory(r.memory) if r.memory else "not set"
    return f"cpu {cpu}, memory {mem}"


def _sizes(w: WorkloadSimulation) -> str:
    over = f"{w.replicas} nodes" if w.kind == "DaemonSet" else f"{w.replicas} replicas"
    return f"{over} (maxSurge {w.max_surge}, maxUnavailable {w.max_unavailable})"


def _duration_line(w: WorkloadSimulation) -> str:
    if w.unbounded is not None:
        return f"duration unbounded: {w.unbounded.reason}"
    return f"duration {duration(w.duration_seconds)} in {w.rounds} round{'s' if w.rounds != 1 else ''}" + (
        f", old pods gone at {duration(w.settled_seconds)}" if w.settled_seconds != w.duration_seconds else ""
    )


def render_text(report: SimulationReport) -> str:
    """Per workload: its sizes, times, pods and resources at the peak, and what was estimated."""
    lines: list[str] = []
    for w in report.workloads:
        lines.append(f"{w.display()}  {w.strategy}  {_sizes(w)}")
        lines.append(f"  {_duration_line(w)}; rollback {duration(w.rollback_seconds)}")
        lines.append(
            f"  pods: peak {w.peak_pods} ({w.peak_pods_with_terminating} with those terminating), "
            f"at least {w.min_available} available"
        )
        lines.append(f"  peak requests: {resources(w.peak_requests)}; peak limits: {resources(w.peak_limits)}")
        if w.estimates:
            lines.append("  estimated:")
            lines.extend(f"    - {e}" for e in w.estimates)
    if not report.workloads and not report.problems and not report.failures:
        # When inputs could not be used, the errors say why nothing was simulated.
        lines.append("no Deployment, StatefulSet, DaemonSet or Rollout to simulate")
    for c in report.comparisons:
        lines += ["", f"Strategies for {c.workload}:"]
        rows = [("candidate", "exposed", "peak pods", "peak requests", "duration", "rollback")]
        rows += [
            (
                k.name,
                f"{k.exposed_percent:g}%",
                str(k.simulation.peak_pods_with_terminating),
                resources(k.simulation.peak_requests),
                duration(k.simulation.duration_seconds),
                duration(k.simulation.rollback_seconds),
            )
            for k in c.candidates
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.append(f"  recommended: {c.recommended}. {c.reason}")
    return "\n".join(lines) + "\n"  # problems go to stderr, as with every command


def render_markdown(report: SimulationReport) -> str:
    """A table of the workloads, then each one's estimates."""
    lines = [
        "| workload | strategy | replicas | maxSurge / maxUnavailable | peak pods | min available | rounds "
        "| duration | rollback | peak requests |",
        "|---|---|---:|---|---:|---:|---:|---|---|---|",
    ]
    for w in report.workloads:
        lines.append(
            f"| {w.display()} | {w.strategy} | {w.replicas} | {w.max_surge} / {w.max_unavailable} "
            f"| {w.peak_pods} ({w.peak_pods_with_terminating}) | {w.min_available} | {w.rounds} "
            f"| {duration(w.duration_seconds)} | {duration(w.rollback_seconds)} | {resources(w.peak_requests)} |"
        )
    for w in report.workloads:
        if w.estimates or w.unbounded:
            lines += ["", f"**{w.display()}**", ""]
            if w.unbounded:
                lines.append(f"- unbounded: {w.unbounded.reason}")
            lines.extend(f"- estimated: {e}" for e in w.estimates)
    for c in report.comparisons:
        lines += ["", f"**Strategies for {c.workload}**", ""]
        lines += ["| candidate | exposed before a check | peak pods | peak requests | duration | rollback |"]
        lines += ["|---|---:|---:|---|---|---|"]
        lines += [
            f"| {k.name} | {k.exposed_percent:g}% | {k.simulation.peak_pods_with_terminating} "
            f"| {resources(k.simulation.peak_requests)} | {duration(k.simulation.duration_seconds)} "
            f"| {duration(k.simulation.rollback_seconds)} |"
            for k in c.candidates
        ]
        lines += ["", f"Recommended: **{c.recommended}**. {c.reason}"]
    if report.problems or report.failures:
        lines += ["", "**Errors**", ""]
        lines.extend(f"- {p.display()}" for p in (*report.problems, *report.failures))
    return "\n".join(lines) + "\n"


def render_json(report: SimulationReport) -> str:
    """The JSON document of docs/simulation.md."""
    return json.dumps(report.to_json(), indent=2) + "\n"


def render_html(report: SimulationReport) -> str:
    """One self-contained HTML page with a chart per workload (simulate.html)."""
    from rollguard.simulate.html import render_html as page

    return page(report)


RENDERERS: dict[str, Callable[[SimulationReport], str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}
