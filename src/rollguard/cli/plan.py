"""`rollguard plan`: the safe rollout order of a change."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from rollguard.cli.options import (
    config_option,
    fail,
    found_config,
    migration_format_option,
    namespace_usage_option,
    report_options,
    write_reports,
)
from rollguard.errors import RollguardError
from rollguard.model import EXIT_INPUT


@click.group()
def plan() -> None:
    """Plan how a change rolls out."""


@plan.command("order")
@click.argument("paths", nargs=-1, required=True)
@config_option()
@report_options(["text", "json"])
@migration_format_option
@namespace_usage_option
@click.option(
    "--nodes",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Nodes a DaemonSet runs on, for its duration (default 3).",
)
def plan_order_command(
    paths: Sequence[str],
    config_path: Path | None,
    formats: Sequence[str],
    outputs: Sequence[str],
    migration_format: str,
    namespace_usage: Sequence[str],
    nodes: int | None,
) -> None:
    """Print the safe rollout order of a change: expand migrations, providers before consumers, contract
    migrations; each rollout wave with its simulated duration, and split where the namespace's
    ResourceQuota cannot hold the surges of the whole wave. Exit 2 on a dependency cycle or
    unreadable input."""
    from rollguard.inputs import MigrationOptions, load_change_set
    from rollguard.inputs.usage import read_namespace_usage
    from rollguard.plan import plan_order, render_text
    from rollguard.simulate import SimulationOptions

    try:
        config = found_config(config_path)
        outside, usage_problems = read_namespace_usage(namespace_usage) if namespace_usage else ((), ())
        change = load_change_set(
            list(paths), migrations=MigrationOptions(tool=migration_format), problems=usage_problems
        )
        result = plan_order(
            change,
            dependencies=config.dependencies,
            simulation=SimulationOptions.from_config(config.simulation, nodes=nodes),
            outside=outside,
        )
        write_reports(
            formats,
            outputs,
            lambda name, _color: (
                json.dumps(result.to_json(), indent=2) + "\n" if name == "json" else render_text(result)
            ),
        )
    except RollguardError as exc:
        fail(exc)
    for p in result.problems:
        click.echo(f"rollguard: {p.display()}", err=True)
    sys.exit(EXIT_INPUT if result.problems else 0)
