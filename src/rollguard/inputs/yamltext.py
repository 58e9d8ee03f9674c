"""YAML as every rollguard reader takes it: safe, strict about duplicate keys, and bounded in cost.

PyYAML builds an alias once and shares it, so a "billion laughs" document is small in memory
until something serialises it (the engines do); a self-referencing anchor makes a cycle no
JSON can hold; deep nesting exhausts Python's stack. Each of these, a duplicate key, a number
no JSON engine accepts (`.inf`, `.nan`, thousands of digits) is found on the composed node
graph before anything is built from it, and reported with its line.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from typing import Any

import yaml

from rollguard.model import SourceSpan

try:
    BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # libyaml missing: the pure-Python loader gives the same documents
    BaseLoader = yaml.SafeLoader

_MERGE = "tag:yaml.org,2002:merge"
_FLOAT = "tag:yaml.org,2002:float"
_INT = "tag:yaml.org,2002:int"
_NOT_FINITE = frozenset({".inf", ".nan"})


@dataclass(frozen=True)
class DocumentLimits:
    """What one document may cost: nesting depth, nodes after aliases are expanded, digits of a number.

    The defaults are far above any real manifest, workflow or config (the deepest of the
    corpus's real YAML files nests 14 levels; large CRD schemas a few dozen) and far below what
    exhausts memory or the stack.
    """

    max_depth: int = 200
    max_nodes: int = 1_000_000
    max_digits: int = 100


DEFAULT_LIMITS = DocumentLimits()


class UnsafeDocument(yaml.MarkedYAMLError):
    """A document rollguard refuses to build: the mark says where, the problem says why."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def check_node(root: yaml.Node, limits: DocumentLimits = DEFAULT_LIMITS, *, line_offset: int = 0) -> None:
    """Raise UnsafeDocument for the first thing in `root` that must not be built (see the module doc).

    One pass over the composed graph: a node reached through several aliases is measured once
    and its expanded size reused, so a billion laughs costs as much as its text. `line_offset`
    is added to lines named in messages (for a document parsed out of a larger file).
    """
    sizes: dict[int, tuple[int, int]] = {}  # id(node) → (expanded nodes, depth below it)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            nodes = 1 + sum(sizes[id(c)][0] for c in children)
            below = 1 + max((sizes[id(c)][1] for c in children), default=0)
            if nodes > limits.max_nodes:
                raise UnsafeDocument(
                    f"the document expands to more than {limits.max_nodes:,} nodes through its aliases "
                    "(an alias bomb?); write the values out or split the document",
                    node.start_mark,
                )
            sizes[key] = (nodes, below)
            open_nodes.discard(key)
            continue
        known = sizes.get(key)
        if known is not None:
            if depth + known[1] - 1 > limits.max_depth:
                raise UnsafeDocument(_too_deep(limits), node.start_mark)
            continue
        if key in open_nodes:
            raise UnsafeDocument(
                "an alias refers to a node that contains it, which no JSON document can hold; remove the cycle",
                node.start_mark,
            )
        if depth > limits.max_depth:
            raise UnsafeDocument(_too_deep(limits), node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node, limits)
            sizes[key] = (1, 1)
            continue
        if isinstance(node, yaml.MappingNode):
            _check_keys(node, line_offset)
        open_nodes.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _too_deep(limits: DocumentLimits) -> str:
    return f"the document nests deeper than {limits.max_depth} levels; no real object does, so it is refused"


def _check_scalar(node: yaml.ScalarNode, limits: DocumentLimits) -> None:
    if node.tag == _FLOAT and node.value.lower().lstrip("+-") in _NOT_FINITE:
        raise UnsafeDocument(
            f"{node.value} is not a number JSON can carry; quote it if it is meant as text", node.start_mark
        )
    if node.tag == _INT and len(node.value) > limits.max_digits:
        raise UnsafeDocument(
            f"an integer of {len(node.value):,} digits is longer than {limits.max_digits}; quote it if it is text",
            node.start_mark,
        )


def _check_keys(node: yaml.MappingNode, line_offset: int) -> None:
    """A key given twice: YAML forbids it and kubectl's strict decoding rejects it; PyYAML keeps the last."""
    if len(node.value) < 2:
        return
    seen: dict[tuple[str, str], yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue
        ident = (key.tag, key.value)
        first = seen.get(ident)
        if first is not None:
            raise UnsafeDocument(
                f"duplicate key {key.value!r} (first at line {line_offset + first.start_mark.line + 1}); "
                "YAML allows a key once per mapping and the later value would silently win: remove one",
                key.start_mark,
            )
        seen[ident] = key


def problem_of(exc: yaml.YAMLError) -> tuple[int | None, str]:
    """The 0-based line (None if unknown) and the one-line reason of a YAML error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return (mark.line if mark is not None else None), str(problem)


class SafeLoader(BaseLoader):  # type: ignore[misc]
    """A safe loader whose documents pass `check_node` before they are built."""

    limits: DocumentLimits = DEFAULT_LIMITS
    line_offset: int = 0  # lines before the text this loader reads, for lines named in messages

    def get_data(self) -> Any:
        if self.check_node():
            return self.construct_checked(self.get_node())
        return None

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        return self.construct_checked(node) if node is not None else None

    def construct_checked(self, node: yaml.Node) -> Any:
        """Build `node` after checking it."""
        check_node(node, self.limits, line_offset=self.line_offset)
        try:
            return self.construct_document(node)
        except RecursionError:  # only a limit set above Python's stack can get here
            raise UnsafeDocument(_too_deep(self.limits), node.start_mark) from None


# Keys and short values repeat across the documents of a change (`apiVersion`, `f:metadata`, image
# names, `TCP`): one shared string each. On 20,000 objects this saved a fifth of the memory
# the parsed documents take; long strings (scripts, certificates) rarely repeat.
_SHARED_UP_TO = 128


def _construct_shared_str(loader: SafeLoader, node: yaml.ScalarNode) -> str:
    value: str = loader.construct_scalar(node)
    return sys.intern(value) if len(value) <= _SHARED_UP_TO else value


SafeLoader.add_constructor("tag:yaml.org,2002:str", _construct_shared_str)


def safe_load(text: str, loader: type[SafeLoader] = SafeLoader) -> Any:
    """One document, checked (raises yaml.YAMLError, UnsafeDocument included)."""
    instance = loader(text)
    try:
        return instance.get_single_data()
    except RecursionError:
        raise too_deep_error(text, instance.limits) from None
    finally:
        instance.dispose()


def too_deep_error(text: str, limits: DocumentLimits = DEFAULT_LIMITS) -> UnsafeDocument:
    """The error for a document so deep that composing it exhausted Python's stack.

    The parser gives no mark then; the line is where flow brackets, or else indentation,
    nest deepest, which is where a generated bomb gets deep.
    """
    depth = deepest = deepest_line = 0
    for number, row in enumerate(text.splitlines()):
        indent = len(row) - len(row.lstrip(" -"))
        depth += row.count("[") + row.count("{") - row.count("]") - row.count("}")
        level = max(depth, indent // 2)
        if level > deepest:
            deepest, deepest_line = level, number
    return UnsafeDocument(_too_deep(limits), yaml.Mark("", 0, deepest_line, 0, "", 0))


# --- lines of fields -------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r'\.?([^.\[\]"]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(path: str) -> tuple[str | int, ...] | None:
    """`spec.containers[1].image` → ("spec", "containers", 1, "image"); a key with dots is
    written `metadata.labels["app.kubernetes.io/name"]`. None when `path` is no such path."""
    tokens: list[str | int] = []
    at = 0
    while at < len(path):
        match = _PATH_TOKEN.match(path, at)
        if match is None or match.end() == at:
            return None
        name, index, quoted = match.groups()
        if index is not None:
            tokens.append(int(index))
        elif quoted is not None:
            tokens.append(quoted.replace('\\"', '"').replace("\\\\", "\\"))
        else:
            tokens.append(name)
        at = match.end()
    return tuple(tokens) or None


@functools.lru_cache(maxsize=64)
def _composed(text: str, start: int, end: int) -> yaml.Node | None:
    try:
        return yaml.compose(text[start:end], Loader=BaseLoader)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None


def node_line(root: yaml.Node | None, path: tuple[Any, ...], *, nearest: bool = False) -> int | None:
    """The 0-based line of the mapping key or list item that ends `path` in a composed document.

    With `nearest`, a missing field gives the line of its deepest existing parent (a probe that
    is not there is named at its container); None when not even the first step exists.
    """
    node, line = root, None
    for token in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and not isinstance(token, int):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == token:
                    child, line = value, key.start_mark.line
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(token, int) and 0 <= token < len(node.value):
            child = node.value[token]
            line = child.start_mark.line
        if child is None:
            return line if nearest else None
        node = child
    return line


def all_lines(root: yaml.Node | None) -> dict[tuple[Any, ...], int]:
    """The 1-based line of every mapping key and list item of a composed document, by its path."""
    lines: dict[tuple[Any, ...], int] = {}
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())] if root is not None else []
    while stack:
        current, path = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    lines.setdefault((*path, key.value), key.start_mark.line + 1)
                    stack.append((value, (*path, key.value)))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                lines.setdefault((*path, i), item.start_mark.line + 1)
                stack.append((item, (*path, i)))
    return lines


def line_at(source: SourceSpan, path: str) -> int | None:
    """The file line of the field at `path` (see `parse_path`) of the document `source` spans,
    or of its deepest existing parent; None when not even the path's first step exists."""
    tokens = parse_path(path)
    root = _composed(source.text, source.start, source.end) if tokens else None
    if root is None or tokens is None:
        return None
    line = node_line(root, (*source.prefix, *tokens), nearest=True)
    return None if line is None else source.first_line + line
