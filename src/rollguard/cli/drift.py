"""`rollguard drift`: how live objects differ from their manifests."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from rollguard.cli.options import (
    config_option,
    context_option,
    fail,
    found_config,
    kubeconfig_option,
    text_or_json_option,
)
from rollguard.errors import RollguardError


@click.command()
@click.argument("paths", nargs=-1, required=True)
@kubeconfig_option
@context_option
@config_option(help="rollguard.yaml, whose `drift.ignore` lists JSON Pointers to leave out (default: found upward).")
@text_or_json_option
def drift(
    paths: Sequence[str], kubeconfig: str | None, context: str | None, config_path: Path | None, fmt: str
) -> None:
    """Show how live objects differ from manifests, as JSON Patches; exit 1 on drift, 2 on errors."""
    from rollguard.audit import drift as drifts
    from rollguard.audit.cluster import connect

    try:
        config = found_config(config_path)
        change = drifts.load_desired(paths)
        with connect(kubeconfig=kubeconfig, context=context) as cluster:
            report = drifts.detect_drift(cluster, change, ignore=config.drift_ignore)
    except RollguardError as exc:
        fail(exc)
    click.echo(report.render(fmt), nl=False)
    sys.exit(report.exit_code())
