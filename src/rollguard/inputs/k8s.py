"""Kubernetes manifests: multi-document YAML and JSON, `kind: List` flattened, file:line kept."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import yaml

from rollguard.inputs.jsontext import parse_json
from rollguard.inputs.yamltext import SafeLoader, UnsafeDocument, problem_of, too_deep_error
from rollguard.model import Artifact, InputProblem, Resource, SourceSpan

_DOC_START = re.compile(r"^---(?:[ \t].*)?$", re.MULTILINE)


class _LineLoader(SafeLoader):
    """Checked safe loader that remembers where in its text every document it builds is."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.doc_lines: list[int] = []
        self.spans: list[tuple[int, int, int]] = []  # (start of the first line, end, 0-based first line)

    def get_data(self) -> Any:
        # Same as BaseConstructor.get_data, but keeps the node's start line and span.
        if self.check_node():
            node = self.get_node()
            start = node.start_mark
            self.doc_lines.append(start.line + 1)
            self.spans.append((start.index - start.column, node.end_mark.index, start.line))
            return self.construct_checked(node)
        return None


def load_text(name: str, text: str) -> tuple[list[Artifact], list[InputProblem]]:
    """Artifacts and problems of one file's text (YAML or JSON)."""
    stripped = text.lstrip()
    if not stripped:
        return [], []  # nothing in it: the caller decides whether that is allowed
    if name.lower().endswith(".json") or stripped.startswith(("{", "[")) and _is_json(stripped):
        return _load_json(name, text)
    return _load_yaml(name, text)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _load_json(name: str, text: str) -> tuple[list[Artifact], list[InputProblem]]:
    doc, problem = parse_json(name, text, what="the manifest", advice="fix the syntax")
    if problem is not None:
        return [], [problem]
    return _documents(name, [(doc, 1, SourceSpan(text, 0, len(text), 1))])


def _load_yaml(name: str, text: str) -> tuple[list[Artifact], list[InputProblem]]:
    loader = _LineLoader(text)
    docs: list[tuple[Any, int, SourceSpan | None]] = []
    try:
        while loader.check_data():
            doc = loader.get_data()
            start, end, first = loader.spans[-1]
            docs.append((doc, loader.doc_lines[-1], SourceSpan(text, start, end, first + 1)))
    except (yaml.YAMLError, RecursionError, ValueError):
        # Parse document by document so one broken document does not hide the others.
        return _load_yaml_split(name, text)
    finally:
        loader.dispose()
    return _documents(name, docs)


def _load_yaml_split(name: str, text: str) -> tuple[list[Artifact], list[InputProblem]]:
    starts = [0] + [m.start() for m in _DOC_START.finditer(text)]
    chunks = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        if i == 0 and len(starts) > 1 and starts[1] == 0:
            continue  # the file opens with `---`: that chunk is the next one
        chunks.append((start, text[start:end]))
    artifacts: list[Artifact] = []
    problems: list[InputProblem] = []
    for start, chunk in chunks:
        offset = text.count("\n", 0, start)  # lines before the chunk
        loader = _LineLoader(chunk)
        loader.line_offset = offset  # lines named inside messages are the file's own
        found: list[tuple[Any, int, SourceSpan | None]] = []
        try:
            while loader.check_data():
                doc = loader.get_data()
                begin, end, first = loader.spans[-1]
                span = SourceSpan(text, start + begin, start + end, offset + first + 1)
                found.append((doc, offset + loader.doc_lines[-1], span))
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            error = too_deep_error(chunk) if isinstance(exc, RecursionError) else exc
            if isinstance(error, ValueError):  # a constructor's own limit, e.g. int() of thousands of digits
                error = yaml.MarkedYAMLError(problem=str(error))
            at, problem = problem_of(error)
            line = offset + (at if at is not None else 0) + 1
            begins = offset + (2 if chunk.startswith("---") else 1)
            problems.append(
                InputProblem(
                    name,
                    line,
                    f"invalid YAML in the document starting at line {begins}: {problem}"
                    f"{'' if isinstance(error, UnsafeDocument) else '; fix the syntax'} (the other documents were judged)",
                )
            )
            continue
        finally:
            loader.dispose()
        a, p = _documents(name, found)
        artifacts.extend(a)
        problems.extend(p)
    return artifacts, problems


def _documents(name: str, docs: list[tuple[Any, int, SourceSpan | None]]) -> tuple[list[Artifact], list[InputProblem]]:
    artifacts: list[Artifact] = []
    problems: list[InputProblem] = []
    for doc, line, span in docs:
        if doc is None:
            continue  # an empty document (a trailing `---`) is not an input
        if not isinstance(doc, dict):
            problems.append(
                InputProblem(name, line, f"expected a Kubernetes object (a mapping), found {type(doc).__name__}")
            )
            continue
        if doc.get("kind") == "List" or (
            isinstance(doc.get("kind"), str) and doc["kind"].endswith("List") and isinstance(doc.get("items"), list)
        ):
            items = doc.get("items")
            if not isinstance(items, list):
                problems.append(InputProblem(name, line, "a List must have an `items` array"))
                continue
            a, p = _documents(
                name,
                [
                    (item, line, replace(span, prefix=(*span.prefix, "items", i)) if span else None)
                    for i, item in enumerate(items)
                ],
            )
            artifacts.extend(a)
            problems.extend(p)
            continue
        problem = _check_object(doc)
        if problem:
            problems.append(InputProblem(name, line, problem))
            continue
        meta = doc.get("metadata") or {}
        namespace = meta.get("namespace")
        artifacts.append(
            Artifact(
                kind="k8s",
                document=doc,
                file=name,
                line=line,
                source=span,
                resource=Resource(
                    api_version=doc["apiVersion"],
                    kind=doc["kind"],
                    namespace=namespace if isinstance(namespace, str) and namespace else None,
                    name=_object_name(meta),
                ),
            )
        )
    return artifacts, problems


def _object_name(meta: dict[str, Any]) -> str:
    name = meta.get("name")
    if isinstance(name, str) and name:
        return name
    generate = meta.get("generateName")
    return f"{generate}<generated>" if isinstance(generate, str) and generate else "<unnamed>"


def _check_object(doc: dict[str, Any]) -> str | None:
    """Why `doc` cannot be judged as a Kubernetes object, or None."""
    missing = [k for k in ("apiVersion", "kind") if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        return f"document has no {' or '.join(missing)}; every Kubernetes object needs apiVersion and kind"
    meta = doc.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return "metadata must be a mapping"
    return None
