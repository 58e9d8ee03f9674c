"""`rollguard policy`: list, test and document the policies."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from rollguard.cli.options import (
    engine_option,
    fail,
    make_engine,
    policies_option,
    policy_bundle,
    report_options,
    write_reports,
)
from rollguard.errors import ConfigError, RollguardError
from rollguard.policy.bundle import PolicyBundle


@click.group()
def policy() -> None:
    """List, test and document policies."""


@policy.command("list")
@policies_option
@report_options(["table", "json"], default="table")
def policy_list(policies: Path | None, formats: Sequence[str], outputs: Sequence[str]) -> None:
    """List the policy catalogue read from METADATA."""
    try:
        bundle = policy_bundle(policies, require_policies=False)
        if not bundle.policies:
            # An empty table would read as "nothing to worry about"; it means nothing is checked.
            where = (policies or bundle.root).as_posix()
            raise ConfigError(
                f"no policies in {where}; a policy is a .rego module in `package rollguard.<domain>.<name>`"
            )
        write_reports(formats, outputs, lambda name, _colour: _catalogue(bundle, name), default="table")
    except RollguardError as exc:
        fail(exc)


def _catalogue(bundle: PolicyBundle, fmt: str) -> str:
    if fmt == "json":
        return json.dumps([p.to_json() for p in bundle.policies], indent=2) + "\n"
    width = max((len(p.id) for p in bundle.policies), default=2)
    rows = [f"{'ID':<{width}}  {'SEVERITY':<8}  TITLE"]
    rows += [f"{p.id:<{width}}  {p.severity.label:<8}  {p.title}" for p in bundle.policies]
    return "\n".join(rows) + "\n"


@policy.command("new")
@click.argument("policy_id", metavar="DOMAIN.NAME")
@click.option(
    "--dir",
    "policy_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("policies"),
    show_default=True,
    help="Policy directory: the module goes to DIR/rollguard/<domain>/<name>/.",
)
@click.option(
    "--fixtures",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Fixture directory (default: fixtures/ beside --dir).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="A kind the policy judges (METADATA applies_to); repeatable. Default: by domain.",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def policy_new(policy_id: str, policy_dir: Path, fixtures: Path | None, kinds: tuple[str, ...], force: bool) -> None:
    """Scaffold a policy: its module with METADATA, its tests and its fixtures, passing as written."""
    from rollguard.policy.scaffold import new_policy, scaffold

    try:
        made = scaffold(new_policy(policy_id, kinds=kinds), policy_dir=policy_dir, fixtures=fixtures)
        written = made.write(force=force)
    except RollguardError as exc:
        fail(exc)
    for path in written:
        click.echo(f"wrote {path.as_posix()}")
    for step in made.next_steps:
        click.echo(f"next: {step}")


@policy.command("test")
@policies_option
@engine_option
@click.option("--run", "match", default=None, help="Only tests whose `package.rule` contains this text.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print every test with its result and time (~: the average of the tests run in one query).",
)
def policy_test(policies: Path | None, engine: str, match: str | None, verbose: bool) -> None:
    """Run every `test_*` rule of every `*_test.rego` file, like `opa test`: exit 0 when all pass,
    1 when one fails, 3 when one errors."""
    from rollguard.policy.testing import RegoTestRun, run_tests

    try:
        # Tests may cover libraries alone; a folder without tests is refused below instead.
        bundle = policy_bundle(policies, require_policies=False)
        eng = make_engine(engine)
        run = RegoTestRun(tuple(run_tests(bundle, eng, match=match)))
    except RollguardError as exc:
        fail(exc)
    if verbose:
        click.echo(f"engine {eng.name}")
    for line in run.report(verbose=verbose):
        click.echo(line)
    if not run.results:
        click.echo("no tests found" + (f" matching --run {match!r}" if match else ""), err=True)
    sys.exit(run.exit_code())


@policy.command("doc")
@policies_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("docs/policies"),
    show_default=True,
    help="Directory of the pages: one per policy, an index and the control table.",
)
@click.option(
    "--compliance",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Also refresh the control table between the markers of this page (docs/compliance.md).",
)
def policy_doc(policies: Path | None, out: Path, compliance: Path | None) -> None:
    """Write one Markdown page per policy (and an index) from METADATA."""
    from rollguard.policy.docs import render_docs, update_compliance

    try:
        bundle = policy_bundle(policies)
        pages = render_docs(bundle)
        pages.write(out)
        if compliance is not None:
            update_compliance(compliance, bundle)
    except RollguardError as exc:
        fail(exc)
    click.echo(f"wrote {len(pages)} pages to {out}")
