"""`rollguard migrate`: run SQL migrations on a disposable database and judge what they did."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from rollguard.cli.options import (
    color_option,
    config_option,
    engine_option,
    env_option,
    fail,
    fail_on_option,
    found_config,
    make_engine,
    migration_format_option,
    pending_changes,
    pending_options,
    policies_option,
    policy_bundle,
    report_options,
    write_reports,
)
from rollguard.errors import ConfigError, RollguardError
from rollguard.formats import format_choices, render
from rollguard.model import Severity


@click.group()
def migrate() -> None:
    """Prove what SQL migrations do by running them on a disposable PostgreSQL database."""


@migrate.command("verify")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--dsn",
    required=True,
    envvar="ROLLGUARD_SCRATCH_DSN",
    help="The disposable database, named explicitly: postgresql://user@host/DBNAME (env ROLLGUARD_SCRATCH_DSN).",
)
@click.option("--scratch", is_flag=True, help="Confirm that the --dsn database is disposable (required).")
@migration_format_option
@pending_options("--history-dsn")
@policies_option
@config_option()
@env_option()
@engine_option
@report_options(format_choices("migrate verify"))
@fail_on_option
@color_option
def migrate_verify(
    paths: Sequence[str],
    dsn: str,
    scratch: bool,
    migration_format: str,
    pending_from: str | None,
    since_ref: str | None,
    history_dsn: str | None,
    policies: Path | None,
    config_path: Path | None,
    environment: str | None,
    engine: str,
    formats: Sequence[str],
    outputs: Sequence[str],
    fail_on: str | None,
    color: bool | None,
) -> None:
    """Apply migrations to a disposable database (rolled back), judge what they really did; exit 0/1/2/3."""
    from rollguard.gate import Gate
    from rollguard.inputs import iter_input_files
    from rollguard.inputs.migration import load_migrations, read_sql_file
    from rollguard.migrate.verify import verify
    from rollguard.model import ChangeSet, InputProblem

    try:
        config = found_config(config_path)
        settings = config.resolve(environment, fail_on=Severity.parse(fail_on) if fail_on else None)
        gate = Gate(
            bundle=policy_bundle(policies, config),
            engine=make_engine(engine),
            settings=settings,
            now=dt.datetime.now(dt.timezone.utc),
        )
        sources: list[tuple[str, str]] = []
        problems: list[InputProblem] = []
        for name, path in iter_input_files(paths):
            if path is None:
                raise ConfigError("migrate verify reads migration files, not stdin; name the files or their directory")
            if path.suffix.lower() == ".sql":
                text = read_sql_file(path)
                if isinstance(text, InputProblem):
                    problems.append(text)
                else:
                    sources.append((name, text))
        if not sources and not problems:
            raise ConfigError(f"no .sql migrations in {', '.join(paths)}")
        pending = pending_changes(
            paths, pending_from=pending_from, since_ref=since_ref, history_dsn=history_dsn, dsn_flag="--history-dsn"
        )
        artifacts, unreadable = load_migrations(sources, tool=migration_format, pending=pending)
        verified, failed = verify(dsn, artifacts, scratch=scratch, sources=dict(sources))
        decision = gate.judge(ChangeSet(artifacts=tuple(verified), problems=(*problems, *unreadable, *failed)))
        write_reports(formats, outputs, lambda name, colour: render(name, decision, color=colour), color=color)
    except RollguardError as exc:
        fail(exc)
    sys.exit(decision.exit_code())
