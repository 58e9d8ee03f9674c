"""`rollguard baseline create`: accept the findings a repository has today, so `check --baseline` fails only on new ones."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from rollguard.cli.check import Judging, judge, judging_params
from rollguard.cli.options import fail
from rollguard.errors import InputError, RollguardError


@click.group()
def baseline() -> None:
    """Baseline files: the findings already there when rollguard was adopted (docs/baseline.md)."""


@baseline.command("create", params=judging_params())
@click.option(
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Baseline file to write; when it exists, its entries keep their `since`.",
)
def create(output: Path, store: str, **options: Any) -> None:
    """Judge PATHS as `check` does (same options) and write every finding to a baseline file.

    Waived findings stay with their waiver and are left out. Nothing is written when an input
    cannot be used or a policy cannot be evaluated: the baseline would miss findings.
    """
    from rollguard.baseline import create_baseline, read_baseline

    if options.get("since_ref") is not None:
        raise click.UsageError(
            "a baseline holds the findings of every input, and --since would leave out those of unchanged files; "
            "drop it (say which migrations ran with --pending-from or --history-dsn)"
        )
    try:
        # An existing file at the output is the baseline being regenerated: it must be readable,
        # since its entries keep their dates, and it is never overwritten unread.
        previous = read_baseline(output) if output.exists() else None
        judgement = judge(Judging.from_params(options), store=store, record=False).judgement
    except RollguardError as exc:
        fail(exc)
    decision = judgement.decision
    if decision.problems or decision.errors:
        for problem in decision.problems:
            click.echo(f"rollguard: {problem.display()}", err=True)
        for error in decision.errors:
            click.echo(f"rollguard: {error.file or '-'}: {error.policy}: {error.message}", err=True)
        click.echo(
            f"rollguard: {output} not written: a baseline must hold every finding; fix the above first", err=True
        )
        sys.exit(decision.exit_code())
    made = create_baseline(decision, path=str(output), now=judgement.gate.now, previous=previous)
    try:
        output.write_text(made.to_text(), encoding="utf-8")
    except OSError as exc:
        fail(InputError(f"write baseline: {exc.strerror or exc}", file=str(output)))
    before = previous.by_fingerprint() if previous is not None else {}
    kept = sum(1 for e in made.entries if e.fingerprint in before)
    waived = sum(1 for f in decision.findings if f.waived)
    count = len(made.entries)
    line = f"baselined {count} finding{'' if count == 1 else 's'} in {output}"
    if previous is not None:
        line += f" ({kept} already there keep their date, {count - kept} new, {len(previous.entries) - kept} dropped)"
    if waived:
        line += f"; {waived} waived left to {'its waiver' if waived == 1 else 'their waivers'}"
    click.echo(line)
