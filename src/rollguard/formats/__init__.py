"""Output formats: one module each, registered in the single `FORMATS` dict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

from rollguard.errors import ConfigError
from rollguard.model import Artifact, Decision, Finding

if TYPE_CHECKING:
    import datetime as dt

    from rollguard.policy.bundle import PolicyInfo


class Render(Protocol):
    """Turn a decision into the text of one output format."""

    def __call__(self, decision: Decision, *, color: bool = False) -> str: ...


class BatchWriter(Protocol):
    """A report written while the judged objects arrive in batches, finished by `close`."""

    def add(self, artifacts: Sequence[Artifact], findings: Sequence[Finding]) -> None: ...

    def close(self) -> None: ...


class OpenWriter(Protocol):
    """Start a batch-fed report on `out` for the `policies` judging, stamped `now`."""

    def __call__(self, out: TextIO, *, policies: Sequence[PolicyInfo], now: dt.datetime) -> BatchWriter: ...


@dataclass(frozen=True)
class OutputFormat:
    """One output format: what it is written from, and so which commands offer it.

    A format that renders a finished decision (`render`) is offered by every command with
    `--format`. A format fed every judged object with its findings as it is judged (`writer`)
    needs what a decision does not keep; only the `commands` named here offer it.
    """

    render: Render | None = None
    writer: OpenWriter | None = None
    commands: frozenset[str] | None = None  # None: every command with --format

    def offered_by(self, command: str) -> bool:
        """Whether `command` (e.g. "check", "audit cluster") offers this format."""
        return self.commands is None or command in self.commands


def _registry() -> dict[str, OutputFormat]:
    from rollguard.formats import github, html, json_format, junit, markdown, policyreport, sarif, text

    return {
        "text": OutputFormat(render=text.render),
        "json": OutputFormat(render=json_format.render),
        "junit": OutputFormat(render=junit.render),
        "sarif": OutputFormat(render=sarif.render),
        "github": OutputFormat(render=github.render),
        "markdown": OutputFormat(render=markdown.render),
        "html": OutputFormat(render=html.render),
        # A pass result for every judged object and policy, written namespace by namespace.
        "policyreport": OutputFormat(writer=policyreport.PolicyReportWriter, commands=frozenset({"audit cluster"})),
    }


FORMATS: dict[str, OutputFormat] = _registry()


def format_choices(command: str) -> list[str]:
    """The names `command` offers for `--format`, in registry order."""
    return [name for name, fmt in FORMATS.items() if fmt.offered_by(command)]


def render(name: str, decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as format `name`; an unknown name is an error, never a fallback."""
    try:
        fmt = FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown output format {name!r}; choose one of {', '.join(FORMATS)}") from None
    if fmt.render is None:
        offered = ", ".join(f"`rollguard {c}`" for c in sorted(fmt.commands or ()))
        raise ConfigError(f"output format {name!r} is written while objects are judged; only {offered} offers it")
    return fmt.render(decision, color=color)


__all__ = ["FORMATS", "BatchWriter", "OpenWriter", "OutputFormat", "Render", "format_choices", "render"]
