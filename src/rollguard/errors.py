"""The error tree: every failure a user can see is one of these, with file and line when known."""

from __future__ import annotations


class RollguardError(Exception):
    """Base of every error rollguard raises on purpose."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message

    def location(self) -> str:
        """`file:line`, `file`, or an empty string."""
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""


class InputError(RollguardError):
    """An input document or file cannot be used (exit code 2)."""


class ConfigError(RollguardError):
    """rollguard.yaml or a command-line option is invalid (exit code 2)."""


class PolicyError(RollguardError):
    """A policy does not compile or its METADATA is invalid (exit code 3)."""


class EngineError(RollguardError):
    """The Rego engine failed while evaluating (exit code 3)."""


class StoreError(RollguardError):
    """The decision store is missing, corrupt or unreachable (exit code 2)."""


class ClusterError(RollguardError):
    """The cluster cannot be reached or the kubeconfig context is unknown (exit code 2)."""


def one_line(text: object) -> str:
    """`text` (often a third-party exception) folded to one line: each run of whitespace becomes one space."""
    return " ".join(str(text).split())
