"""Inputs and data files as Conftest hands them to its policies, each document with its file and line.

Conftest gives a policy the parsed document itself as `input`: a multi-document YAML file is
judged one document at a time, and so is a file whose only document is a list (one input per
item). With `--combine` every document becomes one `{"path": ..., "contents": ...}` entry of a
single list. rollguard reads only YAML and JSON here; Conftest's other parsers (HCL, Dockerfile,
INI, TOML, ...) have no counterpart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from rollguard.errors import InputError, one_line
from rollguard.inputs import read_input
from rollguard.inputs.jsontext import parse_json
from rollguard.inputs.yamltext import SafeLoader, problem_of, too_deep_error
from rollguard.model import Resource

Format = Literal["yaml", "json"]

# What Conftest picks by extension; a name without one (stdin, a rendered kustomization) is YAML,
# as in Conftest.
_FORMATS: dict[str, Format] = {".yaml": "yaml", ".yml": "yaml", ".json": "json", "": "yaml"}
DATA_SUFFIXES = (".yaml", ".yml", ".json")


class _DocumentLoader(SafeLoader):
    """Checked safe loader that keeps dates as text: Conftest's YAML parser hands them over as strings."""


_DocumentLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Document:
    """One `input` of a Conftest policy: the parsed value, its file, its first line and its place in the file."""

    value: Any
    file: str
    line: int
    index: int  # 1-based among the file's documents

    def resource(self) -> Resource:
        """The identity findings about this document carry: a Kubernetes object's, or `Document #n`."""
        doc = self.value if isinstance(self.value, dict) else {}
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        api_version, kind, namespace = doc.get("apiVersion"), doc.get("kind"), meta.get("namespace")
        return Resource(
            api_version=api_version if isinstance(api_version, str) else "",
            kind=kind if isinstance(kind, str) and kind else "Document",
            namespace=namespace if isinstance(namespace, str) and namespace else None,
            name=_name(meta, self.index),
        )


def _name(meta: Mapping[str, Any], index: int) -> str:
    # As rollguard's manifest reader names objects, so a finding lands on the same resource.
    name, generate = meta.get("name"), meta.get("generateName")
    if isinstance(name, str) and name:
        return name
    if isinstance(generate, str) and generate:
        return f"{generate}<generated>"
    return f"#{index}"


def format_of(name: str) -> Format | None:
    """`yaml` or `json` for a file Conftest policies are judged on here; None for any other format.

    Standard input and rendered folders (`dir (kustomize)`) are YAML, as Conftest reads `-`.
    """
    if name == "<stdin>" or name.endswith((" (kustomize)", " (helm)")):
        return "yaml"
    return _FORMATS.get(PurePosixPath(name).suffix.lower())


def read_documents(name: str, text: str) -> list[Document]:
    """The inputs Conftest gives its policies for one file; InputError (with the line) if it is unusable.

    Empty documents (a trailing `---`) are no input. The values are plain JSON: a YAML value JSON
    cannot carry (binary, a set, a complex key) is refused with the file's name.
    """
    match format_of(name):
        case "json":
            value, problem = parse_json(name, text, what="the input", advice="fix the syntax")
            if problem is not None:
                raise InputError(problem.message, file=name, line=problem.line)
            docs = [(value, 1, _json_item_lines(text) if isinstance(value, list) else [])]
        case "yaml":
            docs = _yaml_documents(name, text)
        case None:
            suffix = PurePosixPath(name).suffix
            raise InputError(
                f"Conftest policies are judged on YAML and JSON here; a {suffix} file is not read "
                "(rollguard has no parser for Conftest's other formats)",
                file=name,
            )
    if len(docs) == 1 and isinstance(docs[0][0], list):
        # Conftest judges each item of a lone top-level list on its own, like documents.
        items, line, item_lines = docs[0]
        docs = [(item, item_lines[i] if i < len(item_lines) else line, []) for i, item in enumerate(items)]
    out = []
    for index, (value, line, _) in enumerate(docs, start=1):
        if value is None:
            continue
        out.append(Document(_plain(name, line, value), name, line, index))
    return out


def combined(documents: Iterable[Document]) -> list[dict[str, Any]]:
    """The one `input` of `--combine`: every document as `{"path", "contents"}`, sorted by path as Conftest does."""
    return [{"path": d.file, "contents": d.value} for d in sorted(documents, key=lambda d: d.file)]


def _yaml_documents(name: str, text: str) -> list[tuple[Any, int, list[int]]]:
    """(value, first line, lines of a top-level list's items) of each YAML document."""
    loader = _DocumentLoader(text)
    docs: list[tuple[Any, int, list[int]]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            items = [item.start_mark.line + 1 for item in node.value] if isinstance(node, yaml.SequenceNode) else []
            docs.append((loader.construct_checked(node), node.start_mark.line + 1, items))
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        error = too_deep_error(text) if isinstance(exc, RecursionError) else exc
        if isinstance(error, ValueError):  # a constructor's own limit, e.g. int() of thousands of digits
            error = yaml.MarkedYAMLError(problem=str(error))
        at, problem = problem_of(error)
        raise InputError(f"invalid YAML: {problem}", file=name, line=None if at is None else at + 1) from None
    finally:
        loader.dispose()
    return docs


def _json_item_lines(text: str) -> list[int]:
    """The lines of a top-level JSON array's items (JSON is YAML's flow style); none if it is no array."""
    try:
        node = yaml.compose(text.lstrip("\ufeff"), Loader=SafeLoader)
    except (yaml.YAMLError, RecursionError, ValueError):
        return []
    return [item.start_mark.line + 1 for item in node.value] if isinstance(node, yaml.SequenceNode) else []


def _plain(name: str, line: int, value: Any) -> Any:
    """`value` as the JSON the engines get (keys as text, as Conftest's YAML-to-JSON conversion makes them)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"the document holds a value JSON cannot carry ({one_line(exc)}); quote it or remove it",
            file=name,
            line=line,
        ) from None


def load_data_files(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Conftest's `--data`: every YAML and JSON file under `paths`, each mapping merged at the root of `data`.

    A file's top-level keys become `data.<key>` (Conftest loads each file as its own root, so
    folders add no prefix). Two files giving one key different non-mapping values is an error,
    as it is in OPA's loader; so is a file that holds no mapping.
    """
    data: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for path in _data_files(paths):
        name = path.as_posix()
        text, problem = read_input(name, path)
        if problem is not None or text is None:
            raise InputError(f"read data file: {problem.message if problem else 'no text'}", file=name)
        value = _data_value(name, text)
        _merge(data, value, name, (), origin)
    return data


def _data_files(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DATA_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError("data path not found; check --data", file=path.as_posix())
    return files


def _data_value(name: str, text: str) -> dict[str, Any]:
    if format_of(name) == "json":
        value, problem = parse_json(name, text, what="the data file", advice="fix the syntax")
        if problem is not None:
            raise InputError(problem.message, file=name, line=problem.line)
    else:
        docs = _yaml_documents(name, text)
        if len(docs) > 1:
            raise InputError("a data file holds one YAML document; split it into files", file=name, line=docs[1][1])
        value = _plain(name, 1, docs[0][0]) if docs else {}
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(
            f"a data file must hold a mapping (its keys become data.<key>), not a {type(value).__name__}",
            file=name,
            line=1,
        )
    return value


def _merge(
    into: dict[str, Any], value: Mapping[str, Any], name: str, at: tuple[str, ...], origin: dict[tuple[str, ...], str]
) -> None:
    for key, item in value.items():
        path = (*at, key)
        if key not in into:
            into[key] = item
            origin[path] = name
        elif isinstance(into[key], dict) and isinstance(item, dict):
            _merge(into[key], item, name, path, origin)
        elif into[key] != item:
            first = next((origin[path[:n]] for n in range(len(path), 0, -1) if path[:n] in origin), "another file")
            raise InputError(
                f"data.{'.'.join(path)} is given different values here and in {first}; keep it in one data file",
                file=name,
            )
