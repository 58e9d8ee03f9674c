"""Audit report formats: one module each, registered in the single `REPORT_FORMATS` dict."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from rollguard.audit.render import csv_format, html, json_format, markdown
from rollguard.audit.report import Report
from rollguard.errors import ConfigError


class RenderReport(Protocol):
    """Turn an audit report into the text of one format."""

    def __call__(self, report: Report) -> str: ...


REPORT_FORMATS: dict[str, RenderReport] = {
    "html": html.render,
    "markdown": markdown.render,
    "csv": csv_format.render,
    "json": json_format.render,
}


def render_report(name: str, report: Report) -> str:
    """Render `report` as format `name`; an unknown name is an error, never a fallback."""
    try:
        fn = REPORT_FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown report format {name!r}; choose one of {', '.join(REPORT_FORMATS)}") from None
    return fn(report)


def write_report(text: str, path: Path) -> None:
    """Write `text` to `path` whole or not at all: a reader never sees half a report."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"--output {path}: cannot write there: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        # mkstemp makes the file private; give the report the mode a plain write would have.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"--output {path}: cannot write there: {exc.strerror or exc}") from exc


__all__ = ["REPORT_FORMATS", "RenderReport", "render_report", "write_report"]
