"""A policy's parameter JSON Schema as the structural OpenAPI v3 schema a v1 ConstraintTemplate requires."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollguard.errors import PolicyError

# Keywords a structural schema keeps as they are.
_KEPT = frozenset(
    {
        "type",
        "description",
        "title",
        "format",
        "enum",
        "pattern",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "multipleOf",
        "required",
        "nullable",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-list-type",
    }
)
# Annotations with no meaning for validation: dropped. `default` goes too: the constraints carry
# every default explicitly, and a default in the CRD would apply only where `parameters` is set.
_DROPPED = frozenset(
    {"$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly", "$anchor"}
)
_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})


def openapi_schema(schema: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Convert `schema` (JSON Schema 2020-12 as in METADATA) to a structural OpenAPI v3 schema.

    Converted: `type: [T, "null"]` → `nullable`, `[integer, string]` → int-or-string, `const` →
    one-value `enum`, numeric `exclusiveMinimum/Maximum` → boolean form, `uniqueItems` on scalar
    lists → `x-kubernetes-list-type: set`, `additionalProperties: true` → preserve unknown fields.
    Refused (PolicyError naming `where`): composition keywords, references and tuple `items`,
    which a structural schema cannot express faithfully.
    """
    root = _convert(schema, where=where, path="parameters")
    if root.get("type") != "object":
        raise PolicyError(f"{where}: parameters must be a JSON Schema of type object")
    return root


def _convert(node: Mapping[str, Any], *, where: str, path: str) -> dict[str, Any]:
    if not isinstance(node, Mapping):
        raise PolicyError(f"{where}: {path} is not a schema object")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key in _KEPT:
            out[key] = value
        elif key == "properties":
            out[key] = {name: _convert(sub, where=where, path=f"{path}.{name}") for name, sub in value.items()}
        elif key == "items":
            if not isinstance(value, Mapping):
                raise PolicyError(f"{where}: {path}.items must be one schema; tuple items have no structural form")
            out[key] = _convert(value, where=where, path=f"{path}[]")
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, Mapping):
                out[key] = _convert(value, where=where, path=f"{path}.*")
            # false: Kubernetes refuses it, and pruning drops unknown fields anyway
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        elif key == "uniqueItems":
            if value is True:
                out["x-kubernetes-list-type"] = "set"
        else:
            raise PolicyError(
                f"{where}: {path} uses {key!r}, which a structural OpenAPI schema cannot express; "
                "simplify the parameter schema in METADATA"
            )
    _structural_type(out, where=where, path=path)
    if "properties" in out and "additionalProperties" in out:
        # Structural schemas allow one or the other; named properties are what the policy reads.
        del out["additionalProperties"]
    if out.get("x-kubernetes-list-type") == "set" and out.get("items", {}).get("type") in (None, "object", "array"):
        raise PolicyError(f"{where}: {path} has uniqueItems on non-scalar items, which Kubernetes cannot check")
    return out


def _structural_type(out: dict[str, Any], *, where: str, path: str) -> None:
    """Give the node the single `type` a structural schema needs."""
    declared = out.get("type")
    types = list(declared) if isinstance(declared, list) else [declared] if declared is not None else []
    if "null" in types:
        types.remove("null")
        out["nullable"] = True
    if sorted(types) == ["integer", "string"]:
        del out["type"]
        out["x-kubernetes-int-or-string"] = True
        return
    if not types:
        if "properties" in out or "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields"):
            types = ["object"]
        elif "items" in out:
            types = ["array"]
        else:
            raise PolicyError(f"{where}: {path} declares no type; give every parameter schema a type")
    if len(types) != 1 or types[0] not in _TYPES:
        raise PolicyError(f"{where}: {path} has type {declared!r}; a structural schema needs exactly one type")
    out["type"] = types[0]


def structural_problems(schema: Any, path: str = "parameters") -> list[str]:
    """Why `schema` is not a structural OpenAPI v3 schema Gatekeeper (and Kubernetes) accept; empty if it is."""
    if not isinstance(schema, Mapping):
        return [f"{path}: not a schema object"]
    problems: list[str] = []
    unknown = (
        set(schema) - _KEPT - {"properties", "items", "additionalProperties", "exclusiveMinimum", "exclusiveMaximum"}
    )
    problems += [f"{path}: keyword {k!r} is not allowed" for k in sorted(unknown)]
    problems += [
        f"{path}: {k} must be a boolean in OpenAPI v3"
        for k in ("exclusiveMinimum", "exclusiveMaximum")
        if k in schema and not isinstance(schema[k], bool)
    ]
    typed = schema.get("type") in _TYPES
    if (
        not typed
        and not schema.get("x-kubernetes-int-or-string")
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        problems.append(f"{path}: no single type")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{path}: properties and additionalProperties together")
    if schema.get("additionalProperties") is False:
        problems.append(f"{path}: additionalProperties: false")
    if ("properties" in schema or "additionalProperties" in schema) and schema.get("type") != "object":
        problems.append(f"{path}: properties on a non-object")
    if "items" in schema and schema.get("type") != "array":
        problems.append(f"{path}: items on a non-array")
    if schema.get("type") == "array" and "items" not in schema:
        problems.append(f"{path}: array without items")
    for name, sub in (schema.get("properties") or {}).items():
        problems += structural_problems(sub, f"{path}.{name}")
    if "items" in schema:
        problems += structural_problems(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), Mapping):
        problems += structural_problems(schema["additionalProperties"], f"{path}.*")
    return problems
