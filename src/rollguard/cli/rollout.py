"""`rollguard rollout start|finish`: record a rollout's start and completion in the decision store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from rollguard.cli.options import config_option, fail, found_config, parse_now, store_choice, store_option
from rollguard.errors import RollguardError


@click.group()
def rollout() -> None:
    """Record rollouts in the decision store, for governance.concurrent_rollouts (docs/fleet.md)."""


def _rollout_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options `start` and `finish` share."""
    shared: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        store_option,
        config_option(),
        click.option("--env", "environment", required=True, help="Environment the rollout goes to."),
        click.option(
            "--id", "rollout_id", required=True, metavar="ID", help="The rollout's id, unique per environment."
        ),
        click.option(
            "--workload",
            "workloads",
            multiple=True,
            metavar="KIND/NS/NAME",
            help="A workload the rollout changes, e.g. Deployment/shop/web; repeatable.",
        ),
        click.option(
            "--namespace", "namespaces", multiple=True, metavar="NS", help="A namespace it changes; repeatable."
        ),
        click.option("--now", "now_text", default=None, help="Time of the event (ISO 8601); default: now."),
        click.option(
            "--actor", default=None, help="Who rolls out (default: from the CI environment, else the login name)."
        ),
        click.option("--commit", default=None, help="Commit rolled out (default: from the CI environment or git)."),
        click.option("--run-id", default=None, help="Pipeline run id (default: from the CI environment)."),
    ]
    for option in reversed(shared):
        command = option(command)
    return command


@rollout.command("start")
@_rollout_options
@click.option(
    "--duration",
    "duration_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="How long the rollout may take (e.g. `rollguard simulate`'s duration); "
    "default: governance.concurrent_rollouts' default_window_minutes.",
)
def start(duration_seconds: float | None, **options: Any) -> None:
    """Record that rollout ID started in ENV: until it finishes, other changes there are warned."""
    _record("start", duration_seconds=duration_seconds, **options)


@rollout.command("finish")
@_rollout_options
def finish(**options: Any) -> None:
    """Record that rollout ID in ENV completed: it no longer conflicts with other changes."""
    _record("finish", duration_seconds=None, **options)


def _record(
    event: str,
    *,
    duration_seconds: float | None,
    store: str | None,
    config_path: Path | None,
    environment: str,
    rollout_id: str,
    workloads: Sequence[str],
    namespaces: Sequence[str],
    now_text: str | None,
    actor: str | None,
    commit: str | None,
    run_id: str | None,
) -> None:
    """Append the start or finish record and say where on stderr."""
    from rollguard.audit.record import ci_identity, ci_run
    from rollguard.audit.recording import recorded_line, rollguard_version
    from rollguard.audit.store import open_store
    from rollguard.canary.record import workload_resource
    from rollguard.governance.rollouts import Rollout, rollout_body

    if not rollout_id.strip() or not environment.strip():
        raise click.UsageError("--id and --env must not be empty")
    try:
        resources = [workload_resource(w) for w in workloads]
        url = store_choice(store, found_config(config_path)).url
        env_commit, env_run, env_actor = ci_identity()
        entry = Rollout(
            id=rollout_id.strip(),
            environment=environment.strip(),
            workloads=tuple({"kind": r.kind, "namespace": r.namespace or "default", "name": r.name} for r in resources),
            namespaces=tuple(n.strip() for n in namespaces if n.strip()),
            duration_seconds=duration_seconds,
        )
        body = rollout_body(
            entry,
            "start" if event == "start" else "finish",
            when=parse_now(now_text),
            actor=actor or env_actor,
            commit=commit or env_commit,
            run_id=run_id or env_run,
            ci=ci_run(),
            rollguard_version=rollguard_version(),
        )
        with open_store(url) as opened:
            stored = opened.append(body)
    except RollguardError as exc:
        fail(exc)
    click.echo(recorded_line(stored, url), err=True)
