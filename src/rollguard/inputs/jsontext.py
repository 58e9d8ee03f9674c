"""JSON inputs (Trivy reports, Terraform plans): one artifact per file, or problems saying where and what to do."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rollguard.model import Artifact, InputProblem, Resource

# Why a parsed value is not a usable document (or None); and the document built from it,
# given the file's text (for lines) and a list to add problems to.
ShapeCheck = Callable[[str, Any], InputProblem | None]
Builder = Callable[[str, Mapping[str, Any], str, list[InputProblem]], dict[str, Any]]


def parse_json(name: str, text: str, *, what: str, advice: str) -> tuple[Any, InputProblem | None]:
    """The value of `text` (a leading byte-order mark ignored), or the problem naming its line.

    `what` names the document (`a Trivy report`); `advice` says how to produce a good one.
    """
    try:
        return json.loads(text.lstrip("\ufeff")), None
    except json.JSONDecodeError as exc:
        message = f"invalid JSON in {what}: {exc.msg} (column {exc.colno}); the file may be truncated — {advice}"
        return None, InputProblem(name, exc.lineno, message)


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
