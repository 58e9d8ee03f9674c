"""The Engine protocol and the registry of Rego backends."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any, Protocol

from rollguard.errors import ConfigError


class Engine(Protocol):
    """A Rego evaluator holding one set of modules and one data document."""

    name: str

    def versions(self) -> dict[str, str]:
        """Name → version of the engine and the library underneath it."""
        ...

    def load(self, modules: Mapping[str, str]) -> None:
        """Add Rego modules (file path → source); raise PolicyError on a parse error."""
        ...

    def set_data(self, data: Mapping[str, Any]) -> None:
        """Replace the whole data document."""
        ...

    def evaluate(self, path: str, input: Any) -> Any:
        """Value of `data.<path>` for `input`, None when undefined; EngineError/PolicyError on failure."""
        ...


class EngineFactory(Protocol):
    """Builds one backend; options another backend needs are ignored."""

    def __call__(self, *, opa_url: str | None, opa_token: str | None) -> Engine: ...


def _make_opa(*, opa_url: str | None, opa_token: str | None) -> Engine:
    from rollguard.engine.opa import OpaEngine

    return OpaEngine()


def _make_regorus(*, opa_url: str | None, opa_token: str | None) -> Engine:
    from rollguard.engine.regorus import RegorusEngine

    return RegorusEngine()


def _make_opa_server(*, opa_url: str | None, opa_token: str | None) -> Engine:
    from rollguard.engine.opa_server import OpaServerEngine

    if not opa_url:
        raise ConfigError(
            "engine 'opa-server' needs the server's URL: pass --opa-url (env ROLLGUARD_OPA_URL), "
            "e.g. --opa-url http://127.0.0.1:8181"
        )
    return OpaServerEngine(opa_url, token=opa_token or None)


ENGINES: dict[str, EngineFactory] = {"opa": _make_opa, "regorus": _make_regorus, "opa-server": _make_opa_server}
ENGINE_CHOICES = ("auto", *ENGINES)


def resolve_engine_name(name: str) -> str:
    """Map `auto` to `opa` when the OPA bindings import, else `regorus`; never to a remote server."""
    if name == "auto":
        return "opa" if importlib.util.find_spec("opa_bindings") is not None else "regorus"
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    return name


def create_engine(name: str, *, opa_url: str | None = None, opa_token: str | None = None) -> Engine:
    """Create an engine in the calling process (the OPA bridge must never cross a fork).

    `opa_url` and `opa_token` address the server of the `opa-server` engine; others ignore them.
    """
    resolved = resolve_engine_name(name)
    try:
        return ENGINES[resolved](opa_url=opa_url, opa_token=opa_token)
    except ImportError as exc:
        raise ConfigError(
            f"engine {resolved!r} is not installed ({exc}); run `make install` or choose --engine regorus"
        ) from exc
