"""The facts of one statement as policies see them: operations, names, the empty record and the dialect."""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

OPERATIONS = (
    "create_table",
    "drop_table",
    "drop_schema",
    "drop_database",
    "truncate",
    "rename_table",
    "rename_column",
    "add_column",
    "drop_column",
    "alter_column_type",
    "set_not_null",
    "drop_not_null",
    "set_default",
    "drop_default",
    "add_constraint",
    "validate_constraint",
    "drop_constraint",
    "create_index",
    "drop_index",
    "reindex",
    "alter_type_add_value",
    "create_type",
    "create_view",
    "drop_view",
    "create_function",
    "create_trigger",
    "drop_trigger",
    "create_sequence",
    "alter_sequence",
    "create_extension",
    "update",
    "delete",
    "insert",
    "select",
    "set",
    "begin",
    "commit",
    "rollback",
    "comment",
    "grant",
    "revoke",
    "do_block",
    "unknown",
)

_DDL = frozenset(OPERATIONS[: OPERATIONS.index("create_extension") + 1]) | {"comment"}

# --------------------------------------------------------------------------- names

_IDENT = r'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)'
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT})*"


def _norm_name(raw: str) -> str:
    """`App.Users` → `app.users`; quoted parts keep their case (PostgreSQL folds unquoted names)."""
    parts = re.findall(_IDENT, raw)
    return ".".join(_norm_ident(p) for p in parts)


def _norm_ident(part: str) -> str:
    if len(part) >= 2 and part[0] == part[-1] and part[0] in '"`':
        return part[1:-1].replace(part[0] * 2, part[0])
    return part.lower()


def _ident(node: exp.Expr | None) -> str | None:
    if node is None:
        return None
    if isinstance(node, exp.Identifier):
        return str(node.this) if node.quoted else str(node.this).lower()
    if isinstance(node, exp.Table):
        parts = [node.args.get("catalog"), node.args.get("db"), node.this]
        names = [_ident(p) for p in parts if isinstance(p, exp.Expr)]
        return ".".join(n for n in names if n) or None
    if isinstance(node, exp.Column):
        return _ident(node.this)
    if isinstance(node, (exp.Schema, exp.UserDefinedFunction)):
        return _ident(node.this)
    if isinstance(node, exp.Dot):
        return ".".join(n for n in (_ident(node.this), _ident(node.expression)) if n)
    return node.name.lower() or None


def _table_key(name: str) -> str:
    # `public` is PostgreSQL's default schema: `public.users` and `users` are one table.
    return name[len("public.") :] if name.startswith("public.") else name


# --------------------------------------------------------------------------- facts


def _facts(operation: str, **values: Any) -> dict[str, Any]:
    """A statement's facts with every key present, so policies never meet a missing field."""
    facts: dict[str, Any] = {
        "operation": operation,
        "statement_kind": None,
        "table": None,
        "object": None,
        "column": None,
        "new_name": None,
        "columns": [],
        "column_def": None,
        "type_change": None,
        "constraint": None,
        "index_def": None,
        "concurrently": False,
        "cascade": False,
        "if_exists": False,
        "where": False,
        "setting": None,
        "parser": "sqlglot",
    }
    facts.update(values)
    return facts


def _constraint(kind: str | None, name: str | None, **values: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"type": kind, "name": name, "not_valid": False, "using_index": None, "expression": None}
    result.update(values)
    return result


class _Dialect:
    """What the classifier needs to know about the SQL dialect."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.read = "postgres" if name == "postgres" else "mysql"

    def sql(self, node: exp.Expr) -> str:
        return node.sql(dialect=self.read)


def _statement_kind(code: str) -> str:
    """Leading keywords, lower-cased: `create trigger`, `alter table`, `vacuum` — names what an unknown is."""
    match = re.match(
        r"(?i)(create|alter|drop)\s+(?:or\s+replace\s+)?(?:unique\s+|temp\s+|temporary\s+|unlogged\s+|materialized\s+|global\s+|local\s+)*"
        r"(?:(?:foreign\s+)?table|event\s+trigger|constraint\s+trigger|access\s+method|text\s+search|[a-z]+)",
        code,
    )
    if match:
        return " ".join(match.group(0).lower().split())
    word = re.match(r"[A-Za-z]+", code)
    return word.group(0).lower() if word else ""
