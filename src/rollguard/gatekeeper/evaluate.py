"""Run a generated ConstraintTemplate's Rego the way Gatekeeper does, on rollguard's own engines."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from rollguard.engine import Engine, create_engine
from rollguard.errors import EngineError, PolicyError
from rollguard.gatekeeper.documents import template_code
from rollguard.gatekeeper.rego import check_gatekeeper_source, package_of

# Gatekeeper's audit and admission both read this rule of the template's main module.
VIOLATION_RULE = "violation"


class TemplateEvaluator:
    """One ConstraintTemplate's main module and libraries, loaded and checked as Gatekeeper loads them.

    Gatekeeper queries `violation` with input `{"review": ..., "parameters": ...}` (the constraint's
    `spec.parameters`), data holding only `inventory` and the libraries, and keeps each result's
    `msg` and `details` (an object, `{}` when the rule gives none).
    """

    def __init__(self, template: Mapping[str, Any], *, engine: str = "opa") -> None:
        rego, libs = template_code(template)
        name = str(template.get("metadata", {}).get("name", "template"))
        check_gatekeeper_source(rego, file=f"{name}/rego", library=False)
        for i, lib in enumerate(libs):
            check_gatekeeper_source(lib, file=f"{name}/libs[{i}]", library=True)
        self.package = package_of(rego, file=f"{name}/rego")
        self.engine: Engine = create_engine(engine)
        modules = {f"{name}/template.rego": rego}
        modules.update({f"{name}/lib_{i}.rego": lib for i, lib in enumerate(libs)})
        self.engine.load(modules)
        self._inventory: str | None = None

    def compile(self) -> None:
        """Compile the modules now (as Gatekeeper does on admission of the template); PolicyError if they fail."""
        self._set_inventory({"namespace": {}, "cluster": {}})
        # An evaluation error on an empty review still means the modules compiled.
        with contextlib.suppress(EngineError):
            self.engine.evaluate(f"{self.package}.{VIOLATION_RULE}", {"review": {}, "parameters": {}})

    def violations(
        self, review: Mapping[str, Any], parameters: Mapping[str, Any], inventory: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The violations Gatekeeper reports for `review`, sorted: `[{"msg": ..., "details": {...}}]`."""
        self._set_inventory(inventory)
        raw = self.engine.evaluate(
            f"{self.package}.{VIOLATION_RULE}", {"review": dict(review), "parameters": dict(parameters)}
        )
        out = []
        for r in raw or []:
            if not isinstance(r, dict) or not isinstance(r.get("msg"), str):
                raise PolicyError(f"{self.package}.violation returned a malformed result: {r!r}")
            out.append({"msg": r["msg"], "details": r.get("details", {})})
        return sorted(out, key=lambda v: json.dumps(v, sort_keys=True))

    def _set_inventory(self, inventory: Mapping[str, Any]) -> None:
        # Replacing data recompiles on OPA: skip it when the inventory is the same as last time.
        key = json.dumps(inventory, sort_keys=True)
        if key != self._inventory:
            self.engine.set_data({"inventory": inventory})
            self._inventory = key


def evaluate_template(
    template: Mapping[str, Any],
    review: Mapping[str, Any],
    parameters: Mapping[str, Any],
    inventory: Mapping[str, Any],
    *,
    engine: str = "opa",
) -> list[dict[str, Any]]:
    """The violations Gatekeeper reports for `review` under a constraint with `parameters` (one-off)."""
    return TemplateEvaluator(template, engine=engine).violations(review, parameters, inventory)
