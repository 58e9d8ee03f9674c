"""The `opa` backend: real OPA v1 in-process through the Go shared-library bindings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opa_bindings import OpaEngine as _Bridge
from opa_bindings import OpaError

from rollguard.engine.rego_errors import clean, policy_error
from rollguard.errors import EngineError

# The bridge embeds this OPA release; the bindings do not expose it at run time.
_OPA_VERSION = {"0.4.4": "1.20.2"}

_CREATED_IN_PID: int | None = None


class OpaEngine:
    """OPA evaluator. Strict builtin errors are always on in the bridge."""

    name = "opa"

    def __init__(self) -> None:
        global _CREATED_IN_PID
        if _CREATED_IN_PID is not None and os.getpid() != _CREATED_IN_PID:
            # The Go runtime does not survive fork(); a child must use spawn.
            raise EngineError("the OPA engine cannot be used in a forked process; start workers with 'spawn'")
        _CREATED_IN_PID = os.getpid()
        self._bridge = _Bridge()
        self._bridge.print_handler = lambda message, location: None
        self._modules: dict[str, str] = {}
        # Data waiting for the next evaluation, and whether the bridge holds data already. The
        # bridge compiles every module again when it prepares a query after any change, so data
        # set several times before an evaluation is loaded (and compiled against) once.
        self._pending: Mapping[str, Any] | None = None
        self._has_data = False
        # Queries prepared since the last change: OPA compiles the whole bundle to prepare each
        # one, again after any change of modules or data. Counted, so tests can pin the cost.
        self._prepared: set[str] = set()
        self.compilations = 0

    def versions(self) -> dict[str, str]:
        from importlib import metadata

        bindings = metadata.version("opa-golib-python-bindings")
        return {"opa": _OPA_VERSION.get(bindings, "unknown"), "opa-golib-python-bindings": bindings}

    def load(self, modules: Mapping[str, str]) -> None:
        for path, source in modules.items():
            try:
                self._bridge.add_policy(path, source)
            except OpaError as exc:
                raise policy_error(exc.message, action="compile policy") from exc
            self._modules[path] = source
        self._prepared.clear()

    def set_data(self, data: Mapping[str, Any]) -> None:
        # Loaded by the next evaluation; `data` must not change until then.
        self._pending = data

    def _flush(self) -> None:
        """Load pending data; the bridge deep-merges data, so a fresh bridge replaces it."""
        data, self._pending = self._pending, None
        if data is None:
            return
        if self._has_data:
            self._bridge.close()
            self._bridge = _Bridge()
            self._bridge.print_handler = lambda message, location: None
            for path, source in self._modules.items():
                self._bridge.add_policy(path, source)
        try:
            self._bridge.add_data(dict(data))
        except OpaError as exc:
            raise EngineError(f"load data: {exc.message}") from exc
        self._has_data = True
        self._prepared.clear()

    def evaluate(self, path: str, input: Any) -> Any:
        self._flush()
        query = f"x = data.{path}"
        if query not in self._prepared:
            self._prepared.add(query)
            self.compilations += 1
        try:
            rows = self._bridge.eval_query(query, input)
        except OpaError as exc:
            if exc.code in ("prepare_error", "compile_error", "parse_error"):
                raise policy_error(exc.message, action="compile policy") from exc
            raise EngineError(clean(exc.message)) from exc
        return rows[0]["x"] if rows else None
