"""Which decision store a command uses: the one named on the command line, in rollguard.yaml, or the default.

Writers and readers agree on it, so `check --record`, `governance.promotion` and the `audit`
commands look at the same log without `--store` being repeated on every command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from rollguard.audit.store import DEFAULT_STORE, STORES
from rollguard.errors import ConfigError, StoreError

Origin = Literal["option", "config", "default"]


@dataclass(frozen=True)
class StoreChoice:
    """The store URL a command uses and where it came from."""

    url: str
    origin: Origin

    @property
    def found(self) -> bool:
        """Whether there is a store to read: a named one always, the default only when its file exists."""
        return self.origin != "default" or _sqlite_path(self.url).is_file()

    def to_read(self) -> str:
        """The URL a reader opens; a StoreError (exit 2) when nothing names a store and the default is absent.

        A reader never creates a log, and an empty one made here would hide the real log
        somewhere else behind a report of zero decisions.
        """
        if not self.found:
            raise StoreError(
                f"no decision store: none given (--store or ROLLGUARD_STORE), none configured (`store:` in "
                f"rollguard.yaml), and the default {self.url} does not exist in the current directory; pass "
                "--store URL, or run where the decisions were recorded"
            )
        return self.url


def choose_store(
    option: str | None, *, configured: str | None, config_file: Path | None = None, line: int | None = None
) -> StoreChoice:
    """`--store`/ROLLGUARD_STORE (`option`, None when not given), else rollguard.yaml's `store:`, else the default.

    A relative `sqlite:///` path in the config is relative to the config file's folder, so a
    check run from a subfolder records where a report run from the top reads. `line` is the
    `store:` key's line, for the error on a URL no backend takes.
    """
    if option is not None:
        return StoreChoice(option, "option")
    if configured is None:
        return StoreChoice(DEFAULT_STORE, "default")
    scheme, sep, rest = configured.partition("://")
    if not sep or scheme not in STORES:
        known = ", ".join(f"{s}://" for s in STORES)
        raise ConfigError(
            f"store: {configured!r} is not a decision store URL (use one of {known}, e.g. {DEFAULT_STORE})",
            file=str(config_file) if config_file is not None else None,
            line=line,
        )
    if scheme == "sqlite" and config_file is not None and rest.startswith("/") and not rest.startswith("//"):
        # `sqlite:///relative.db`: three slashes, then a path without its own leading slash.
        path = config_file.parent / rest[1:]
        return StoreChoice(f"sqlite:///{path.as_posix()}", "config")
    return StoreChoice(configured, "config")


def _sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///...` URL (the default store is always one)."""
    return Path(PurePosixPath(url.removeprefix("sqlite://")[1:]))
