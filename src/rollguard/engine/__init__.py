"""The Engine protocol and the registry of Rego backends."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
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


def _make_opa() -> Engine:
    from rollguard.engine.opa import OpaEngine

    return OpaEngine()


def _make_regorus() -> Engine:
    from rollguard.engine.regorus import RegorusEngine

    return RegorusEngine()


ENGINES: dict[str, Callable[[], Engine]] = {"opa": _make_opa, "regorus": _make_regorus}
ENGINE_CHOICES = ("auto", *ENGINES)


def resolve_engine_name(name: str) -> str:
    """Map `auto` to `opa` when the OPA bindings import, else `regorus`."""
    if name == "auto":
        return "opa" if importlib.util.find_spec("opa_bindings") is not None else "regorus"
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    return name


def create_engine(name: str) -> Engine:
    """Create an engine in the calling process (the OPA bridge must never cross a fork)."""
    resolved = resolve_engine_name(name)
    try:
        return ENGINES[resolved]()
    except ImportError as exc:
        raise ConfigError(
            f"engine {resolved!r} is not installed ({exc}); run `make install` or choose --engine regorus"
        ) from exc
