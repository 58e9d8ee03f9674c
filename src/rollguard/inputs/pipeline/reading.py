"""A pipeline file's YAML, read with the line of every key, value and item, and the plain values in it."""

from __future__ import annotations

from typing import Any

import yaml

from rollguard.inputs.yamltext import SafeLoader, UnsafeDocument, problem_of, too_deep_error


class _Map(dict[Any, Any]):
    """A YAML mapping that remembers the line of each key and of the first line of each scalar value."""

    line: int = 0
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]


class _Seq(list[Any]):
    """A YAML sequence that remembers the first line of each item."""

    line: int = 0
    item_lines: list[int]


def _content_line(node: yaml.Node) -> int:
    # A block scalar (`run: |`) starts on the line after its indicator.
    style = getattr(node, "style", None)
    return node.start_mark.line + (2 if style in ("|", ">") else 1)


class _LineLoader(SafeLoader):
    """Checked safe loader whose mappings and sequences carry line numbers; `!reference` is kept, not resolved."""


def _construct_map(loader: Any, node: yaml.MappingNode) -> Any:
    data = _Map()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    data.value_lines = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            ) from None
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1
        data.value_lines[key] = _content_line(value_node)


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Any:
    data = _Seq()
    data.line = node.start_mark.line + 1
    data.item_lines = [_content_line(child) for child in node.value]
    yield data
    data.extend(loader.construct_object(child, deep=True) for child in node.value)


def _construct_reference(loader: Any, node: yaml.Node) -> dict[str, Any]:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, "!reference expects a sequence", node.start_mark)
    return {"!reference": [loader.construct_object(child, deep=True) for child in node.value]}


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
_LineLoader.add_constructor("!reference", _construct_reference)


class _Unusable(Exception):
    """YAML that cannot be read, with the line to report."""

    def __init__(self, line: int | None, message: str, *, advice: str = "; fix the syntax") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.advice = advice


def _parse(text: str) -> Any:
    """The first YAML document of `text`; raise _Unusable for anything PyYAML rejects."""
    loader = _LineLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        line, problem = problem_of(exc)
        advice = "" if isinstance(exc, UnsafeDocument) else "; fix the syntax"
        raise _Unusable(line + 1 if line is not None else None, problem, advice=advice) from exc
    except RecursionError as exc:
        line, problem = problem_of(too_deep_error(text))
        raise _Unusable(line + 1 if line is not None else None, problem, advice="") from exc
    except (ValueError, TypeError) as exc:  # e.g. bad timestamps, merge of a non-mapping
        raise _Unusable(None, f"{type(exc).__name__}: {exc}") from exc
    finally:
        loader.dispose()


def _line(mapping: Any, key: Any) -> int | None:
    return mapping.key_lines.get(key) if isinstance(mapping, _Map) else None


def _value_line(mapping: Any, key: Any) -> int | None:
    return mapping.value_lines.get(key) if isinstance(mapping, _Map) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _scalar_text(value: Any) -> str | None:
    """A scalar as the text a shell would see (`true`, `3`), None for collections and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _item_line(seq: Any, index: int) -> int | None:
    return seq.item_lines[index] if isinstance(seq, _Seq) and index < len(seq.item_lines) else None
