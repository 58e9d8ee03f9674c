"""The `rollguard` command line: thin click commands over the gate, policies and formats."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping

import click

# Command name → the module and attribute defining it. A command's module is imported when the
# command runs (or help lists it): `rollguard check` does not pay for the webhook's, the audit
# store's or the cluster's imports.
_COMMANDS = {
    "version": "version:version",
    "check": "check:check",
    "baseline": "baseline:baseline",
    "serve": "serve:serve",
    "policy": "policy:policy",
    "audit": "audit:audit",
    "webhook": "serve:webhook",
    "drift": "drift:drift",
    "gatekeeper": "gatekeeper:gatekeeper",
    "migrate": "migrate:migrate",
    "scan": "scan:scan_command",
    "plan": "plan:plan",
    "simulate": "simulate:simulate",
    "canary": "canary:canary",
    "rollout": "rollout:rollout",
    "compare": "compare:compare",
    "dashboard": "dashboard:dashboard",
}


class _LazyCommands(MutableMapping[str, click.Command]):
    """`Group.commands` whose commands are imported on first access; the names are known up front."""

    def __init__(self, where: Mapping[str, str]) -> None:
        self._where = dict(where)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, attribute = self._where[name].split(":")
            command = getattr(importlib.import_module(f"rollguard.cli.{module}"), attribute)
            assert isinstance(command, click.Command)
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        self._where.setdefault(name, "")

    def __delitem__(self, name: str) -> None:
        del self._where[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._where))

    def __len__(self) -> int:
        return len(self._where)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rollguard", prog_name="rollguard", message="%(prog)s %(version)s")
def main() -> None:
    """rollguard: a policy gate for safe rolling deployments."""


main.commands = _LazyCommands(_COMMANDS)
