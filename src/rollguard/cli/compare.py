"""`rollguard compare`: the differences between renderings of one service, and whether they are allowed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rollguard.cli.options import config_option, fail, found_config, report_options, report_targets, write_reports
from rollguard.errors import ConfigError, RollguardError

if TYPE_CHECKING:
    from rollguard.policy.config import ParitySet

EXIT_DIFFERENT = 1
# `rollguard.fleet.render.COMPARE_FORMATS`'s keys; the test beside it keeps the two equal, so
# `--help` does not import the comparison.
COMPARE_FORMAT_NAMES = ("text", "json", "markdown")


@click.command()
@click.argument("paths", nargs=-1)
@config_option()
@click.option(
    "--set",
    "set_names",
    multiple=True,
    metavar="NAME",
    help="Compare the renderings of this `parity.sets` entry of the config (default without PATHS: every set); repeatable.",
)
@click.option(
    "--allow",
    "allow",
    multiple=True,
    metavar="POINTER",
    help="A JSON Pointer glob that may differ, beside `parity.allowed` (e.g. /spec/replicas); repeatable.",
)
@click.option(
    "--allow-image-registry",
    is_flag=True,
    help="Images may differ in their registry host (as `parity.allowed_image_registry: true`).",
)
@report_options(COMPARE_FORMAT_NAMES)
def compare(
    paths: Sequence[str],
    config_path: Path | None,
    set_names: Sequence[str],
    allow: Sequence[str],
    allow_image_registry: bool,
    formats: Sequence[str],
    outputs: Sequence[str],
) -> None:
    """Compare renderings of one service (files, folders, kustomize overlays, Helm charts): the first
    with each other one, object by object, as JSON Patch. Exit 0 in parity, 1 on a difference
    `parity.allowed` does not allow, 2 on unusable input, 3 on errors."""
    from rollguard.fleet.parity import ParityLimits, compare_set, compare_sides, read_side
    from rollguard.fleet.render import render_comparisons

    report_targets(formats, outputs)  # a usage error before any work
    if paths and set_names:
        raise click.UsageError("give PATHS or --set, not both")
    if len(paths) == 1:
        raise click.UsageError("give at least two renderings to compare (or --set NAME from the config)")
    try:
        config = found_config(config_path)
        parity = config.parity
        parity = replace(
            parity,
            allowed=(*parity.allowed, *_checked_pointers(allow)),
            allowed_image_registry=parity.allowed_image_registry or allow_image_registry,
        )
        limits = ParityLimits()
        if paths:
            sides = [read_side(p, limits=limits) for p in paths]
            comparisons = [compare_sides(sides[0], other, parity=parity, limits=limits) for other in sides[1:]]
        else:
            chosen = _chosen_sets(parity.sets, set_names, config.path)
            comparisons = [c for s in chosen for c in compare_set(parity, s, limits=limits)]
        write_reports(formats, outputs, lambda name, _colour: render_comparisons(name, comparisons))
    except RollguardError as exc:
        fail(exc)
    sys.exit(0 if all(c.in_parity for c in comparisons) else EXIT_DIFFERENT)


def _checked_pointers(pointers: Sequence[str]) -> tuple[str, ...]:
    """`--allow` values; each must be a JSON Pointer (`/spec/replicas`)."""
    for pointer in pointers:
        if not pointer.startswith("/"):
            raise click.BadParameter(
                f"{pointer!r} is no JSON Pointer; write it as /spec/replicas", param_hint="--allow"
            )
    return tuple(pointers)


def _chosen_sets(sets: Sequence[ParitySet], names: Sequence[str], config: Path | None) -> list[ParitySet]:
    """The `parity.sets` entries `names` names (every one when none), or a ConfigError saying which exist."""
    where = str(config) if config is not None else None
    if not sets:
        raise ConfigError(
            "no renderings to compare: give two or more PATHS, or name sets under `parity.sets` in rollguard.yaml",
            file=where,
        )
    known = {s.name: s for s in sets}
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(
            f"no parity set named {', '.join(map(repr, missing))} (known: {', '.join(known)})", file=where
        )
    return [known[n] for n in names] if names else list(sets)
