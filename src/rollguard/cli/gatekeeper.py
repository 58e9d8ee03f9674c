"""`rollguard gatekeeper`: the OPA Gatekeeper tree generated from the policies."""

from __future__ import annotations

from pathlib import Path

import click

from rollguard.cli.options import config_option, env_option, fail, policies_option
from rollguard.errors import RollguardError
from rollguard.policy.bundle import default_policy_dir, load_bundle
from rollguard.policy.config import load_config


@click.group()
def gatekeeper() -> None:
    """Generate OPA Gatekeeper ConstraintTemplates, Constraints and sync config from the policies."""


@gatekeeper.command("build")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("gatekeeper"), show_default=True)
@policies_option
@config_option(help="rollguard.yaml whose selection, parameters and enforcement the constraints carry (default: none).")
@env_option(help="Environment whose overrides apply (needs --config).")
@click.option(
    "--fixtures",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Fixtures for the samples and gator suites (default: fixtures/ beside the policy directory).",
)
def gatekeeper_build(
    out: Path, policies: Path | None, config_path: Path | None, environment: str | None, fixtures: Path | None
) -> None:
    """Write the Gatekeeper tree (templates, constraints, gator suites, sync config) to --out."""
    from rollguard.gatekeeper import build_tree, default_fixtures

    try:
        policy_dir = policies if policies is not None else default_policy_dir()
        # Only an explicit --config: the committed tree must not change with a rollguard.yaml nearby.
        settings = load_config(config_path).resolve(environment)
        files = build_tree(load_bundle(policy_dir), settings, fixtures=fixtures or default_fixtures(policy_dir))
        changes = files.write(out)
    except RollguardError as exc:
        fail(exc)
    click.echo(f"wrote {len(changes.written)} and removed {len(changes.removed)} of {len(files)} files in {out}")
