"""Rego v0 modules rewritten as Rego v1, by edits at the spans of regorus's syntax tree.

Third-party ConstraintTemplates are mostly Rego v0 (all of gatekeeper-library's are), and the
OPA engine parses Rego v1 only. Editing the source where regorus's AST says a body, a set head
or a name is keeps every comment, string and line where it was, so an error in the upgraded
module names the same line as in the original.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import regorus

from rollguard.engine.rego_errors import policy_error
from rollguard.errors import PolicyError

RegoVersion = Literal["v0", "v1"]

# Words Rego v1 reserves that a v0 module may use as names unless it imports them as keywords.
V1_KEYWORDS = ("contains", "every", "if", "in")
# Suffix of a v0 name that is a keyword in v1 (`contains(a, b)` becomes `contains_v0(a, b)`).
RENAMED_SUFFIX = "_v0"
# Built-ins Rego v1 removed that have an exact replacement.
REPLACED_BUILTINS = {"re_match": "regex.match", "net.cidr_overlap": "net.cidr_contains"}
# Built-ins Rego v1 removed without a one-name replacement: such a module runs on regorus only.
REMOVED_BUILTINS = frozenset(
    {"any", "all", "set_diff", "cast_array", "cast_set", "cast_string", "cast_boolean", "cast_null", "cast_object"}
)

_FUTURE_IMPORT = re.compile(rb"^\s*import\s+(future\.keywords(?:\.(\w+))?|rego\.v1)\b")
_IDENT_CHAR = re.compile(rb"[A-Za-z0-9_]")


@dataclass(frozen=True)
class Edit:
    """Replace bytes `start:end` of the source with `text`."""

    start: int
    end: int
    text: bytes


def syntax_tree(source: str, *, file: str, version: RegoVersion) -> dict[str, Any]:
    """regorus's AST of one module (`{"package", "imports", "rules"}`); PolicyError if it does not parse.

    `file` must end in `.rego`: errors name it with the line inside the module.
    """
    engine = regorus.Engine()
    if version == "v0":
        engine.set_rego_v0(True)
    try:
        engine.add_policy(file, source)
    except RuntimeError as exc:
        raise policy_error(str(exc), action=f"parse Rego {version}") from exc
    modules = json.loads(engine.get_ast_as_json())
    return dict(modules[0]["ast"])


def rego_version(source: str, *, file: str, declared: str | None = None) -> RegoVersion:
    """The Rego version a module parses as, tried the way Gatekeeper tries: v1 first, then v0.

    When neither parses, the error is the one of the version the author meant: `declared`
    (a template's `source.version`), or v1 when the module imports `rego.v1`, else v0.
    """
    try:
        syntax_tree(source, file=file, version="v1")
        return "v1"
    except PolicyError as v1_error:
        try:
            separate_bodies(source, file=file)
            return "v0"
        except PolicyError as v0_error:
            meant_v1 = declared == "v1" or re.search(r"^\s*import\s+rego\.v1\b", source, re.MULTILINE)
            raise (v1_error if meant_v1 else v0_error) from None


def separate_bodies(source: str, *, file: str) -> str:
    """The v0 module with each extra body of a rule (`p { a } { b }`) written as a rule of its own.

    OPA reads `p { a } { b }` as two definitions of `p`; regorus reads the second body as an
    `else`, and refuses it after a partial set head. The head is repeated on the same line, so
    lines do not move. PolicyError when the module does not parse as v0.
    """
    data = source.encode("utf-8")
    for _ in range(data.count(b"{") + 1):
        try:
            tree = syntax_tree(data.decode("utf-8"), file=file, version="v0")
        except PolicyError as exc:
            at = _second_set_body(data, exc)
            if at is None:
                raise
            head = _last_head(data[:at], file=file)
            data = data[:at] + head + b" " + data[at:]
            continue
        edits = []
        for kind, node in (next(iter(rule.items())) for rule in tree.get("rules") or []):
            if kind != "Spec":
                continue
            start, end = _span(next(iter(node["head"].values())))
            for body in (node.get("bodies") or [])[1:]:
                if not body.get("is_else"):
                    edits.append(Edit(_span(body)[0], _span(body)[0], data[start:end] + b" "))
        return _apply(data, edits).decode("utf-8")
    raise PolicyError("cannot separate the bodies of its rules", file=file)


def separate_statements(source: str, *, file: str, version: RegoVersion) -> str:
    """The module with `;` ending each statement that regorus would join to a next line opening with `(`.

    OPA ends a statement at the end of its line; regorus reads `x` then `(a - b) >= c` on the
    next line as the call `x(a - b) >= c`. Only a call whose name opens its statement and whose
    `(` is on a later line is split, which OPA reads as two statements too; lines do not move.
    """
    data = source.encode("utf-8")
    tree = syntax_tree(source, file=file, version=version)
    edits = []
    for query in _queries(tree):
        for stmt in query["stmts"]:
            start = int(stmt["span"]["start"])
            for inner_kind, inner in ast_nodes(stmt):
                if inner_kind != "Call":
                    continue
                fcn_start, fcn_end = _span(next(iter(inner["fcn"].values())))
                paren = data.find(b"(", fcn_end)
                if fcn_start == start and paren > 0 and b"\n" in data[fcn_end:paren]:
                    edits.append(Edit(fcn_end, fcn_end, b";"))
    return _apply(data, edits).decode("utf-8") if edits else source


def replace_removed_builtins(source: str, *, file: str) -> str:
    """The v0 module with calls of built-ins Rego v1 removed renamed to their replacement
    (`re_match` → `regex.match`), which regorus also implements only under the new name."""
    data = source.encode("utf-8")
    edits = []
    for kind, node in ast_nodes(syntax_tree(source, file=file, version="v0")):
        if kind == "Call":
            start, end = _span(next(iter(node["fcn"].values())))
            name = data[start:end].decode("utf-8")
            if name in REPLACED_BUILTINS:
                edits.append(Edit(start, end, REPLACED_BUILTINS[name].encode()))
    return _apply(data, edits).decode("utf-8") if edits else source


# regorus's refusal of a second body after a partial set head, and where that body starts.
_SET_ELSE = "else cannot be used with set rules"
_REGORUS_AT = re.compile(r"-->\s*\S+?:(\d+):(\d+)")


def _second_set_body(data: bytes, error: PolicyError) -> int | None:
    """The offset of the `{` regorus refused in `error`, or None for any other parse error."""
    text = str(error.__cause__ or "")
    m = _REGORUS_AT.search(text)
    if _SET_ELSE not in error.message or m is None:
        return None
    line, column = int(m.group(1)), int(m.group(2))
    lines = data.split(b"\n")
    if line > len(lines):
        return None
    at = sum(len(row) + 1 for row in lines[: line - 1]) + column - 1
    return at if data[at : at + 1] == b"{" else None


def _last_head(prefix: bytes, *, file: str) -> bytes:
    """The head of the last rule in `prefix` (a module cut just before an extra body)."""
    tree = syntax_tree(prefix.decode("utf-8"), file=file, version="v0")
    rules = [next(iter(rule.items())) for rule in tree.get("rules") or []]
    if not rules or rules[-1][0] != "Spec":
        raise PolicyError("cannot find the head of a rule with several bodies", file=file)
    start, end = _span(next(iter(rules[-1][1]["head"].values())))
    return prefix[start:end]


def upgrade_v0(source: str, *, file: str) -> str:
    """`source` (Rego v0) as Rego v1 with the same meaning: `if` before every rule body, `contains`
    in partial-set heads, v1 keywords used as names renamed (`in` → `in_v0`), removed built-ins
    replaced (`re_match` → `regex.match`), extra bodies as rules of their own (`separate_bodies`).

    PolicyError when it does not parse as v0, or calls a built-in v1 removed without a replacement.
    """
    source = separate_bodies(source, file=file)
    tree = syntax_tree(source, file=file, version="v0")
    data = source.encode("utf-8")
    edits = [*_body_and_head_edits(tree, data, file=file), *_name_edits(tree, data, file=file)]
    upgraded = _apply(data, edits).decode("utf-8")
    try:
        syntax_tree(upgraded, file=file, version="v1")
    except PolicyError as exc:
        raise PolicyError(f"the Rego v1 upgrade of this v0 module does not parse: {exc.message}", file=file) from exc
    return upgraded


def _body_and_head_edits(tree: dict[str, Any], data: bytes, *, file: str) -> Iterator[Edit]:
    for rule in tree.get("rules") or []:
        (kind, node), *_ = rule.items()
        if kind != "Spec":
            continue  # `default p = x` has no body and reads the same in v1
        (head_kind, head), *_ = node["head"].items()
        if head_kind == "Set":
            yield from _contains_edits(head, data, file=file)
        after = _span(head)[1]
        bodies = node.get("bodies") or []
        if not bodies and head_kind != "Set" and not head.get("assign"):
            yield Edit(after, after, b" := true")  # `f("x")` alone: v1 wants a value or a body
        for i, body in enumerate(bodies):
            if body.get("is_else"):
                assign = body.get("assign")
                after = _span(assign)[1] if assign else _span(body)[0] + len(b"else")
            elif i > 0:
                continue  # `p { a } { b }`: v1 keeps the extra bodies as they are once the first has `if`
            at = _next_token(data, after)
            # Already `if` (v0 with `import future.keywords.if`), or no body (`else := x`).
            if data[at : at + 1] == b"{" and not _word_at(data, at, b"if"):
                yield Edit(at, at, b"if ")


def _contains_edits(head: dict[str, Any], data: bytes, *, file: str) -> Iterator[Edit]:
    """`p[x]` → `p contains x`; a head already written `p contains x` is left alone."""
    (_, refr), *_ = head["refr"].items()
    open_at = _next_token(data, _span(refr)[1])
    if data[open_at : open_at + 1] != b"[":
        return
    close_at = _span(head)[1] - 1
    if data[close_at : close_at + 1] != b"]":
        raise PolicyError(f"cannot read the partial set head at line {_line(data, open_at)}", file=file)
    yield Edit(_span(refr)[1], open_at + 1, b" contains ")
    yield Edit(close_at, close_at + 1, b"")


def _name_edits(tree: dict[str, Any], data: bytes, *, file: str) -> Iterator[Edit]:
    """Rename v1 keywords used as names, and replace built-ins v1 removed."""
    keywords = set(V1_KEYWORDS) - _imported_keywords(tree, data)
    # `contains(s, t)` is also a built-in: a call keeps its name unless the module defines its own.
    builtin_calls = set() if "contains" in rule_names(tree) else _called_vars(tree)
    for kind, node in ast_nodes(tree):
        if kind == "Var" and node.get("value") in keywords and id(node) not in builtin_calls:
            start, end = _span(node)
            yield Edit(start, end, (node["value"] + RENAMED_SUFFIX).encode())
        elif kind == "RefDot" and _is_data_ref(node):
            field_span, name = node["field"]
            if name in V1_KEYWORDS:  # a rule of another module, renamed there too
                yield Edit(field_span["start"], field_span["end"], (name + RENAMED_SUFFIX).encode())
        elif kind == "Call":
            start, end = _span(next(iter(node["fcn"].values())))
            name = data[start:end].decode("utf-8")
            if name in REPLACED_BUILTINS:
                yield Edit(start, end, REPLACED_BUILTINS[name].encode())
            elif name in REMOVED_BUILTINS:
                raise PolicyError(
                    f"calls {name}(), a built-in Rego v1 removed; it cannot be upgraded to run on OPA "
                    "(run it with --engine regorus, or rewrite the call)",
                    file=file,
                    line=_line(data, start),
                )


def rule_names(tree: dict[str, Any]) -> set[str]:
    """The names of the rules a module defines (`violation`, `is_update`, ...)."""
    names = set()
    for rule in tree.get("rules") or []:
        (_, node), *_ = rule.items()
        head = node.get("refr") or next(iter(node["head"].values()))["refr"]
        while isinstance(head, dict) and "Var" not in head:  # a ref head such as `a.b`: its first name
            head = next(iter(head.values())).get("refr")
        if isinstance(head, dict):
            names.add(str(head["Var"].get("value")))
    return names


def _called_vars(tree: dict[str, Any]) -> set[int]:
    """ids of the Var nodes that name the function of a call."""
    return {id(node["fcn"]["Var"]) for kind, node in ast_nodes(tree) if kind == "Call" and "Var" in node["fcn"]}


def _imported_keywords(tree: dict[str, Any], data: bytes) -> set[str]:
    found: set[str] = set()
    for imp in tree.get("imports") or []:
        start, end = _span(imp)
        m = _FUTURE_IMPORT.match(data[start:end])
        if m:
            found.update([m.group(2).decode()] if m.group(2) else V1_KEYWORDS)
    return found


def _is_data_ref(node: dict[str, Any]) -> bool:
    """Whether a dotted reference starts at `data` (a rule of some module, not a field of input)."""
    current: Any = node
    while True:
        (kind, inner), *_ = current["refr"].items()
        if kind == "Var":
            return bool(inner.get("value") == "data")
        if kind not in ("RefDot", "RefBrack"):
            return False
        current = inner


def ast_nodes(value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every AST node as (kind, fields); a node is a one-key object such as `{"Var": {"span": ...}}`."""
    stack: list[Any] = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if len(current) == 1:
                ((kind, inner),) = current.items()
                if isinstance(inner, dict) and "span" in inner:
                    yield kind, inner
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _queries(value: Any) -> Iterator[dict[str, Any]]:
    """Every query (a rule body, a comprehension's or `every`'s body): `{"span", "stmts"}`."""
    stack: list[Any] = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if isinstance(current.get("stmts"), list):
                yield current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _span(node: dict[str, Any]) -> tuple[int, int]:
    span = node["span"]
    return int(span["start"]), int(span["end"])


def _next_token(data: bytes, at: int) -> int:
    """The offset of the first byte at or after `at` that is not whitespace or a comment."""
    while at < len(data):
        ch = data[at : at + 1]
        if ch.isspace():
            at += 1
        elif ch == b"#":
            newline = data.find(b"\n", at)
            at = len(data) if newline < 0 else newline + 1
        else:
            break
    return at


def _word_at(data: bytes, at: int, word: bytes) -> bool:
    return data.startswith(word, at) and not _IDENT_CHAR.match(data, at + len(word))


def _line(data: bytes, at: int) -> int:
    return data.count(b"\n", 0, at) + 1


def _apply(data: bytes, edits: list[Edit]) -> bytes:
    out = data
    last = len(data) + 1
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        if edit.end > last:
            raise PolicyError("overlapping Rego upgrade edits (a bug in rollguard's upgrade)")
        out = out[: edit.start] + edit.text + out[edit.end :]
        last = edit.start
    return out
