"""`rollguard gatekeeper`: the OPA Gatekeeper tree generated from the policies."""

from __future__ import annotations

from pathlib import Path

import click

from rollguard.cli.options import config_option, env_option, fail, parse_now, policies_option, policy_bundle
from rollguard.errors import RollguardError
from rollguard.policy.bundle import default_policy_dir
from rollguard.policy.config import load_config


@click.group()
def gatekeeper() -> None:
    """Generate OPA Gatekeeper ConstraintTemplates, Constraints and sync config from the policies."""


@gatekeeper.command("build")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("gatekeeper"),
    show_default=True,
    help="Directory of the generated tree; files rollguard no longer generates there are removed.",
)
@policies_option
@config_option(
    help="rollguard.yaml whose selection, parameters, enforcement and waivers the constraints carry (default: none)."
)
@env_option(help="Environment whose overrides apply (needs --config).")
@click.option(
    "--fixtures",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Fixtures for the samples and gator suites (default: fixtures/ beside the policy directory).",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    help="Time (ISO 8601) at which waivers must hold to become namespace exclusions; default: now.",
)
def gatekeeper_build(
    out: Path,
    policies: Path | None,
    config_path: Path | None,
    environment: str | None,
    fixtures: Path | None,
    now_text: str | None,
) -> None:
    """Write the Gatekeeper tree (templates, constraints, gator suites, sync config) to --out.

    Waivers of whole namespaces become the constraints' excludedNamespaces; the others are
    listed on stderr with the reason Gatekeeper cannot carry them.
    """
    from rollguard.gatekeeper import build_tree, default_fixtures, gatekeeper_policies, simulation_policies
    from rollguard.gatekeeper.waivers import constraint_waivers

    try:
        now = parse_now(now_text)
        policy_dir = policies if policies is not None else default_policy_dir()
        # Only an explicit --config: the committed tree must not change with a rollguard.yaml nearby.
        config = load_config(config_path)
        settings = config.resolve(environment)
        bundle = policy_bundle(policies, config)
        files = build_tree(bundle, settings, fixtures=fixtures or default_fixtures(policy_dir), now=now)
        changes = files.write(out)
    except RollguardError as exc:
        fail(exc)
    for left in constraint_waivers(gatekeeper_policies(bundle, settings), settings, now=now).left_out:
        click.echo(f"rollguard: {left.display()}", err=True)
    for info in simulation_policies(bundle, settings):
        click.echo(
            f"rollguard: {info.id} is not in the Gatekeeper tree: it reads the rollout simulation, "
            "which only rollguard check and rollguard serve compute",
            err=True,
        )
    click.echo(f"wrote {len(changes.written)} and removed {len(changes.removed)} of {len(files)} files in {out}")
