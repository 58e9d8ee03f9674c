"""`rollguard scan`: Trivy reports of images, for `rollguard check` to judge."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from rollguard.cli.options import fail
from rollguard.errors import RollguardError
from rollguard.model import EXIT_INPUT


@click.command("scan")
@click.argument("images", nargs=-1, required=True)
@click.option("--trivy", "trivy_path", default=None, help="Trivy executable (default: trivy on PATH).")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=1), help="Seconds per image.")
@click.option(
    "--output-dir",
    default=".",
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write one <image>.json report per image.",
)
def scan_command(images: Sequence[str], trivy_path: str | None, timeout: float, output_dir: Path) -> None:
    """Scan images with Trivy and write reports for `rollguard check`; exit 2 when a scan is unusable."""
    from rollguard.scanners.trivy import scan_images

    try:
        reports = scan_images(images, trivy=trivy_path, timeout=timeout, output_dir=output_dir)
    except RollguardError as exc:
        fail(exc)
    problems = [p for r in reports for p in r.problems]
    for r in reports:
        counts = r.artifact.document["vulnerability_counts"] if r.artifact else {}
        summary = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) or "no vulnerabilities"
        click.echo(f"{r.image}: {summary} -> {r.name}")
    for p in problems:
        click.echo(f"rollguard: {p.display()}", err=True)
    sys.exit(EXIT_INPUT if problems else 0)
