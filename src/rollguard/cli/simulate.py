"""`rollguard simulate`: play the rollout of every workload of a change and report its figures."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from rollguard.cli.options import (
    config_option,
    env_option,
    fail,
    found_config,
    namespace_usage_option,
    report_options,
    write_reports,
)
from rollguard.errors import RollguardError
from rollguard.model import EXIT_ERROR, EXIT_INPUT
from rollguard.simulate.change import MAX_NODES
from rollguard.simulate.render import RENDERERS


@click.command("simulate")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--nodes",
    type=click.IntRange(1, MAX_NODES),
    default=None,
    help="Nodes a DaemonSet runs on (default: 3, said as an estimate).",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Also simulate each Deployment and Rollout as rolling (as configured and 1/0), blue-green and a "
    "10/25/50/100 canary, and recommend one (advice, never a finding).",
)
@click.option(
    "--surge-budget",
    type=click.IntRange(0, 1000),
    default=50,
    show_default=True,
    help="With --compare: extra pods at the peak a recommended strategy may need, in percent of the replicas.",
)
@env_option(help="With --compare: the environment whose rollout objectives (`slo:`) the advice must meet.")
@namespace_usage_option
@config_option()
@report_options(list(RENDERERS))
def simulate(
    paths: Sequence[str],
    nodes: int | None,
    compare: bool,
    surge_budget: int,
    environment: str | None,
    namespace_usage: Sequence[str],
    config_path: Path | None,
    formats: Sequence[str],
    outputs: Sequence[str],
) -> None:
    """Simulate the rollout of each Deployment, StatefulSet, DaemonSet and Argo Rollout: peak pods,
    lowest availability, rounds, duration, rollback time and peak resources (docs/simulation.md).
    Exit 2 on unusable input, 3 when the simulation itself fails."""
    from rollguard.inputs import load_change_set
    from rollguard.inputs.usage import read_namespace_usage
    from rollguard.simulate import SimulationOptions, simulate_change

    try:
        config = found_config(config_path)
        settings = config.simulation
        options = SimulationOptions.from_config(settings, nodes=nodes)
        outside, usage_problems = read_namespace_usage(namespace_usage) if namespace_usage else ((), ())
        change = load_change_set(list(paths), problems=usage_problems)
        limit_ranges = tuple(o for o in outside if o.get("kind") == "LimitRange")
        report = simulate_change(change, options=options, limit_ranges=limit_ranges)
        if compare:
            from rollguard.simulate.compare import Limits, compare_change
            from rollguard.simulate.waves import namespace_rooms

            sims = {(w.namespace, w.kind, w.name): w for w in report.workloads}
            limits = Limits(rooms=namespace_rooms(change, outside, sims), slo=config.resolve(environment).slo)
            comparisons = compare_change(
                change, options=options, surge_budget=surge_budget, limits=limits, limit_ranges=limit_ranges
            )
            report = dataclasses.replace(report, comparisons=comparisons)
        write_reports(formats, outputs, lambda name, _color: RENDERERS[name](report))
    except RollguardError as exc:
        fail(exc)
    for p in (*report.problems, *report.failures):
        click.echo(f"rollguard: {p.display()}", err=True)
    sys.exit(EXIT_ERROR if report.failures else EXIT_INPUT if report.problems else 0)
