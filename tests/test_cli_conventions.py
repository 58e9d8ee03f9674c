"""Conventions every command keeps: help for each option, and `--format`/`--output` alike everywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rollguard.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "demo" / "storefront.yaml"


def commands(group: click.Group = main, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


COMMANDS = dict(commands())


def option(command: click.Command, flag: str) -> click.Option | None:
    return next((p for p in command.params if isinstance(p, click.Option) and flag in p.opts), None)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help(name: str) -> None:
    command = COMMANDS[name]
    missing = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert missing == [], f"`rollguard {name}`: options without help: {missing}"
    assert (command.help or "").strip(), f"`rollguard {name}` has no help text"


REPORTING = sorted(name for name, command in COMMANDS.items() if option(command, "--format") is not None)


def test_the_reporting_commands_are_known() -> None:
    # A new reporting command joins this list, and with it the checks below.
    assert {"check", "drift", "migrate verify", "plan order", "policy list", "audit cluster"} <= set(REPORTING)


@pytest.mark.parametrize("name", REPORTING)
def test_format_and_output_work_alike(name: str) -> None:
    command = COMMANDS[name]
    fmt, out = option(command, "--format"), option(command, "--output")
    assert fmt is not None and out is not None, f"`rollguard {name}` has --format but no --output"
    assert fmt.multiple and out.multiple, f"`rollguard {name}`: --format and --output are repeatable, in pairs"
    assert "-o" in out.opts
    assert isinstance(fmt.type, click.Choice)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_each_output_gets_its_format(tmp_path: Path) -> None:
    target = tmp_path / "catalogue.json"
    code, out, err = run("policy", "list", "--format", "json", "-o", str(target), "--format", "table")
    assert code == 0, err
    listed = json.loads(target.read_text(encoding="utf-8"))
    assert out.splitlines()[0].split() == ["ID", "SEVERITY", "TITLE"]
    assert len(out.splitlines()) == len(listed) + 1


def test_more_outputs_than_formats_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("check", "--format", "json", "-o", str(tmp_path / "a"), "-o", str(tmp_path / "b"), str(DEMO))
    assert code == 2
    assert "more --output values than --format values" in err
    assert not (tmp_path / "a").exists()


def test_an_output_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "report.sarif"
    code, out, err = run("check", "--format", "sarif", "--output", str(target), str(DEMO))
    assert code == 2
    assert f"cannot write the sarif report to {target}" in err
    assert "Traceback" not in out + err


def test_the_store_default_named_in_help_is_the_store_default() -> None:
    # The CLI spells the default store out so that commands which never open the store do not
    # import it; the two must not drift apart.
    from rollguard.audit.store import DEFAULT_STORE
    from rollguard.cli.options import DEFAULT_STORE_URL

    assert DEFAULT_STORE_URL == DEFAULT_STORE
    store = option(COMMANDS["check"], "--store")
    assert store is not None and DEFAULT_STORE in (store.help or "")


def test_a_manifest_only_check_imports_no_pipeline_terraform_or_store_writer() -> None:
    # Start-up pays only for what the change uses (docs/performance.md): judged in a fresh
    # interpreter, which modules were imported.
    import subprocess
    import sys

    code = (
        "import sys; from rollguard.cli import main\n"
        "try:\n    main(['check', sys.argv[1], '--format', 'json', '--output', '/dev/null'])\n"
        "except SystemExit: pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('rollguard'))))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(DEMO)], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    assert "rollguard.gate" in loaded  # it did judge
    for lazy in ("rollguard.inputs.pipeline", "rollguard.inputs.terraform", "rollguard.inputs.migration"):
        assert lazy not in loaded, f"{lazy} imported for a manifest-only check"
    assert "rollguard.webhook" not in loaded and "rollguard.audit.cluster" not in loaded
