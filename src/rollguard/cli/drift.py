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
    report_options,
    write_reports,
)
from rollguard.errors import RollguardError


@click.command()
@click.argument("paths", nargs=-1, required=True)
@kubeconfig_option
@context_option
@config_option(help="rollguard.yaml, whose `drift.ignore` lists JSON Pointers to leave out (default: found upward).")
@report_options(["text", "json"])
def drift(
    paths: Sequence[str],
    kubeconfig: str | None,
    context: str | None,
    config_path: Path | None,
    formats: Sequence[str],
    outputs: Sequence[str],
) -> None:
    """Show how live objects differ from manifests, as JSON Patches; exit 1 on drift, 2 on errors."""
    from rollguard.audit import drift as drifts
    from rollguard.audit.cluster import connect

    try:
        config = found_config(config_path)
        change = drifts.load_desired(paths)
        with connect(kubeconfig=kubeconfig, context=context) as cluster:
            report = drifts.detect_drift(cluster, change, ignore=config.drift_ignore)
        write_reports(formats, outputs, lambda name, _color: report.render(name))
    except RollguardError as exc:
        fail(exc)
    sys.exit(report.exit_code())
