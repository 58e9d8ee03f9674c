"""`rollguard policy`: list, test and document the policies."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rollguard.cli.options import engine_option, fail, make_engine, policies_option, policy_bundle
from rollguard.errors import ConfigError, RollguardError
from rollguard.model import EXIT_ERROR
from rollguard.policy.bundle import default_policy_dir, load_bundle


@click.group()
def policy() -> None:
    """List, test and document policies."""


@policy.command("list")
@policies_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def policy_list(policies: Path | None, fmt: str) -> None:
    """List the policy catalogue read from METADATA."""
    try:
        bundle = load_bundle(policies if policies is not None else default_policy_dir(), require_policies=False)
    except RollguardError as exc:
        fail(exc)
    if not bundle.policies:
        # An empty table would read as "nothing to worry about"; it means nothing is checked.
        where = (policies or bundle.root).as_posix()
        fail(ConfigError(f"no policies in {where}; a policy is a .rego module in `package rollguard.<domain>.<name>`"))
    if fmt == "json":
        click.echo(json.dumps([p.to_json() for p in bundle.policies], indent=2))
        return
    width = max((len(p.id) for p in bundle.policies), default=2)
    click.echo(f"{'ID':<{width}}  {'SEVERITY':<8}  TITLE")
    for p in bundle.policies:
        click.echo(f"{p.id:<{width}}  {p.severity.label:<8}  {p.title}")


@policy.command("test")
@policies_option
@engine_option
@click.option("--run", "match", default=None, help="Only tests whose `package.rule` contains this text.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the time of each test.")
def policy_test(policies: Path | None, engine: str, match: str | None, verbose: bool) -> None:
    """Run every `test_*` rule of every `*_test.rego` file, like `opa test`."""
    from rollguard.policy.testing import run_tests

    try:
        # Tests may cover libraries alone; a folder without tests is refused below instead.
        bundle = load_bundle(policies if policies is not None else default_policy_dir(), require_policies=False)
        eng = make_engine(engine)
        results = run_tests(bundle, eng, match=match)
    except RollguardError as exc:
        fail(exc)
    for r in results:
        mark = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[r.outcome]
        timing = f" ({r.seconds * 1000:.1f} ms)" if verbose else ""
        extra = f": {r.message}" if r.message else ""
        click.echo(f"{mark:5} {r.package}.{r.name}  {r.file}:{r.line}{timing}{extra}")
    failed = sum(1 for r in results if not r.passed)
    click.echo(f"{len(results) - failed} passed, {failed} failed  (engine {eng.name})")
    if not results:
        click.echo("no tests found", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(1 if failed else 0)


@policy.command("doc")
@policies_option
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=Path("docs/policies"), show_default=True
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
