"""JSON inputs (Trivy reports, Terraform plans): one artifact per file, or problems saying where and what to do."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from rollguard.inputs.yamltext import DEFAULT_LIMITS
from rollguard.model import Artifact, InputProblem, Resource

# Why a parsed value is not a usable document (or None); and the document built from it,
# given the file's text (for lines) and a list to add problems to.
ShapeCheck = Callable[[str, Any], InputProblem | None]
Builder = Callable[[str, Mapping[str, Any], str, list[InputProblem]], dict[str, Any]]


class _Refused(ValueError):
    """A value JSON's grammar allows (or Python's reader accepts) that no policy engine takes."""


def _constant(token: str) -> Any:
    raise _Refused(f"{token} is not a JSON number (the engines refuse it); write a number or a string")


def _float(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise _Refused(f"{token} is too large for a 64-bit number; write it as a string")
    return value


def _int(token: str) -> int:
    if len(token.lstrip("-")) > DEFAULT_LIMITS.max_digits:
        raise _Refused(
            f"an integer of {len(token):,} digits is longer than {DEFAULT_LIMITS.max_digits}; write it as a string"
        )
    return int(token)


# Tokens outside strings, to find the line of a refused value (the reader's hooks get no position).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN|-?[0-9][0-9.eE+-]*|[\[{])')


def parse_json(name: str, text: str, *, what: str, advice: str) -> tuple[Any, InputProblem | None]:
    """The value of `text` (a leading byte-order mark ignored), or the problem naming its line.

    `what` names the document (`a Trivy report`); `advice` says how to produce a good one.
    NaN, infinities, integers of more than 100 digits and nesting deeper than 200 levels are
    refused with their line, like a syntax error: the engines cannot take them.
    """
    body = text.lstrip("\ufeff")
    try:
        value = json.loads(body, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as exc:
        message = f"invalid JSON in {what}: {exc.msg} (column {exc.colno}); the file may be truncated — {advice}"
        return None, InputProblem(name, exc.lineno, message)
    except _Refused as exc:
        return None, InputProblem(name, _refused_line(body), f"unusable JSON in {what}: {exc}")
    except RecursionError:
        return None, InputProblem(name, _deep_line(body), f"unusable JSON in {what}: {_too_deep()}")
    except ValueError as exc:  # Python's own limits, e.g. on the digits of an integer
        return None, InputProblem(name, _refused_line(body), f"unusable JSON in {what}: {exc}")
    if _depth(value) > DEFAULT_LIMITS.max_depth:
        return None, InputProblem(name, _deep_line(body), f"unusable JSON in {what}: {_too_deep()}")
    return value, None


def _too_deep() -> str:
    return f"it nests deeper than {DEFAULT_LIMITS.max_depth} levels; no real document does, so it is refused"


def _refused_line(body: str) -> int:
    """The line of the first NaN, infinity, overflowing or overlong number outside strings."""
    for match in _TOKEN.finditer(body):
        token = match.group(1)
        if token is None or token in "[{":
            continue
        try:
            if token in ("NaN", "Infinity", "-Infinity"):
                raise _Refused(token)
            (_float if any(c in token for c in ".eE") else _int)(token)
        except (_Refused, ValueError):
            return body.count("\n", 0, match.start()) + 1
    return 1


def _deep_line(body: str) -> int:
    """The line where brackets outside strings first nest deeper than the limit."""
    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', body):
        token = match.group(0)
        if token in "[{":
            depth += 1
            if depth > DEFAULT_LIMITS.max_depth:
                return body.count("\n", 0, match.start()) + 1
        elif token in "]}":
            depth -= 1
    return 1


def _depth(value: Any) -> int:
    """Nesting depth of a parsed value, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > DEFAULT_LIMITS.max_depth:
                return deepest
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return deepest


def load_json_artifact(
    name: str,
    text: str,
    *,
    artifact_kind: str,
    resource: tuple[str, str],
    what: str,
    advice: str,
    shape: ShapeCheck,
    build: Builder,
) -> tuple[list[Artifact], list[InputProblem]]:
    """The artifact of one JSON file: parsed, its shape checked, then built into a document.

    `resource` is the (apiVersion, kind) the document is known by; its name is the document's.
    """
    body = text.lstrip("\ufeff")
    raw, problem = parse_json(name, body, what=what, advice=advice)
    if problem is None:
        problem = shape(name, raw)
    if problem is not None:
        return [], [problem]
    problems: list[InputProblem] = []
    doc = build(name, raw, body, problems)
    api_version, kind = resource
    identity = Resource(api_version=api_version, kind=kind, namespace=None, name=doc["metadata"]["name"])
    return [Artifact(kind=artifact_kind, document=doc, file=name, line=1, resource=identity)], problems
