"""`rollguard version`: rollguard's version and the engine it would use."""

from __future__ import annotations

import click

from rollguard.cli.options import engine_option, fail, make_engine
from rollguard.engine import resolve_engine_name
from rollguard.errors import RollguardError


@click.command()
@engine_option
def version(engine: str) -> None:
    """Print rollguard's version and the engine that would be used."""
    from importlib import metadata

    click.echo(f"rollguard {metadata.version('rollguard')}")
    try:
        name = resolve_engine_name(engine)
        versions = make_engine(name).versions()
    except RollguardError as exc:
        fail(exc)
    click.echo(f"engine: {name} (" + ", ".join(f"{k} {v}" for k, v in versions.items()) + ")")
