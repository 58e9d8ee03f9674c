"""The `rollguard` command line: thin click commands over the gate, policies and formats."""

from __future__ import annotations

import click

from rollguard.cli import audit, baseline, check, drift, gatekeeper, migrate, plan, policy, scan, serve, version


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rollguard", prog_name="rollguard", message="%(prog)s %(version)s")
def main() -> None:
    """rollguard: a policy gate for safe rolling deployments."""


main.add_command(version.version)
main.add_command(check.check)
main.add_command(baseline.baseline)
main.add_command(serve.serve)
main.add_command(policy.policy)
main.add_command(audit.audit)
main.add_command(serve.webhook)
main.add_command(drift.drift)
main.add_command(gatekeeper.gatekeeper)
main.add_command(migrate.migrate)
main.add_command(scan.scan_command)
main.add_command(plan.plan)
