"""The `regorus` backend: Microsoft regorus (Rust) in-process; fork-safe, thread-bound."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import regorus

from rollguard.engine.rego_errors import clean, policy_error
from rollguard.errors import EngineError


class RegorusEngine:
    """regorus evaluator; use it only from the thread that created it.

    `rego_v0=True` parses modules as Rego v0 (no `if`/`contains` required), as third-party
    Gatekeeper templates and Conftest policies are often written; the default stays Rego v1.
    """

    name = "regorus"

    def __init__(self, *, rego_v0: bool = False) -> None:
        self._engine = regorus.Engine()
        if rego_v0:
            self._engine.set_rego_v0(True)

    def versions(self) -> dict[str, str]:
        from importlib import metadata

        return {"regorus": metadata.version("gordon-to-regorus")}

    def load(self, modules: Mapping[str, str]) -> None:
        for path, source in modules.items():
            try:
                self._engine.add_policy(path, source)
            except RuntimeError as exc:
                raise policy_error(str(exc), action="compile policy") from exc

    def set_data(self, data: Mapping[str, Any]) -> None:
        self._engine.clear_data()
        try:
            self._engine.add_data_json(json.dumps(data))
        except RuntimeError as exc:
            raise EngineError(f"load data: {clean(str(exc))}") from exc

    def evaluate(self, path: str, input: Any) -> Any:
        try:
            self._engine.set_input_json(json.dumps(input))
            raw = self._engine.eval_query_as_json(f"data.{path}")
        except RuntimeError as exc:
            text = str(exc)
            if "could not find" in text or "while parsing" in text:
                raise policy_error(text, action="compile policy") from exc
            raise EngineError(clean(text)) from exc
        result = json.loads(raw).get("result") or []
        if not result:
            return None
        expressions = result[0].get("expressions") or []
        return expressions[0]["value"] if expressions else None
