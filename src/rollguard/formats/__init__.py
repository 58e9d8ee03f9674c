"""Output formats: one module each, registered in the single `FORMATS` dict."""

from __future__ import annotations

from typing import Protocol

from rollguard.errors import ConfigError
from rollguard.model import Decision


class Render(Protocol):
    """Turn a decision into the text of one output format."""

    def __call__(self, decision: Decision, *, color: bool = False) -> str: ...


def _registry() -> dict[str, Render]:
    from rollguard.formats import github, html, json_format, junit, markdown, sarif, text

    return {
        "text": text.render,
        "json": json_format.render,
        "junit": junit.render,
        "sarif": sarif.render,
        "github": github.render,
        "markdown": markdown.render,
        "html": html.render,
    }


FORMATS: dict[str, Render] = _registry()


def render(name: str, decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as format `name`; an unknown name is an error, never a fallback."""
    try:
        fn = FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown output format {name!r}; choose one of {', '.join(FORMATS)}") from None
    return fn(decision, color=color)


__all__ = ["FORMATS", "Render", "render"]
