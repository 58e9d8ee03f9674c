"""The facts of one SQL statement: sqlglot's reading first, the regexes of `commands` where it has no structure."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp

from rollguard.inputs.migration.alter import _alter_action, _drop_targets
from rollguard.inputs.migration.commands import _command_simple, _from_command
from rollguard.inputs.migration.facts import _Dialect, _facts, _ident, _statement_kind
from rollguard.inputs.migration.lexer import _Piece

# --------------------------------------------------------------------------- sqlglot expressions


def _from_expression(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    """Facts of one parsed statement (several for a multi-action ALTER TABLE or a multi-table DROP)."""
    if isinstance(node, exp.Command):
        return _from_command(code, dialect) or [_facts("unknown", parser="unknown")]
    handler = _HANDLERS.get(type(node))
    if handler is None:
        return [_facts("unknown")]
    return handler(node, code, dialect)


def _create(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    kind = str(node.args.get("kind") or "").upper()
    target = node.this
    if kind == "INDEX" and isinstance(target, exp.Index):
        return [_create_index(node, target, dialect)]
    if kind == "TABLE":
        table = target.this if isinstance(target, exp.Schema) else target
        columns = (
            [_ident(c.this) for c in target.expressions if isinstance(c, exp.ColumnDef)]
            if isinstance(target, exp.Schema)
            else []
        )
        return [_facts("create_table", table=_ident(table), columns=columns, if_exists=bool(node.args.get("exists")))]
    simple = {
        "VIEW": "create_view",
        "TYPE": "create_type",
        "FUNCTION": "create_function",
        "PROCEDURE": "create_function",
    }
    if kind in simple:
        return [_facts(simple[kind], object=_ident(target), if_exists=bool(node.args.get("exists")))]
    if kind in ("TRIGGER", "SEQUENCE"):  # sqlglot keeps no table for a trigger: the regexes read it
        return _command_simple(code, dialect) or [_facts("unknown", object=_ident(target))]
    return [_facts("unknown", object=_ident(target))]


def _create_index(node: exp.Expr, index: exp.Index, dialect: _Dialect) -> dict[str, Any]:
    params = index.args.get("params")
    columns: list[str] = []
    method = None
    if isinstance(params, exp.IndexParameters):
        for col in params.args.get("columns") or []:
            inner = col.this if isinstance(col, exp.Ordered) else col
            named = _ident(inner) if isinstance(inner, (exp.Column, exp.Identifier)) else None
            columns.append(named or dialect.sql(inner))
        using = params.args.get("using")
        method = using.name.lower() if isinstance(using, exp.Expr) else None
    return _facts(
        "create_index",
        table=_ident(index.args.get("table")),
        object=_ident(index.this),
        columns=[c for c in columns if c],
        index_def={"name": _ident(index.this), "unique": bool(node.args.get("unique")), "method": method},
        concurrently=bool(node.args.get("concurrently")),
        if_exists=bool(node.args.get("exists")),
    )


def _drop(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    kind = str(node.args.get("kind") or "").upper()
    common = {"cascade": bool(node.args.get("cascade")), "if_exists": bool(node.args.get("exists"))}
    results = []
    for target in _drop_targets(node):
        name = _ident(target)
        if kind == "TABLE":
            results.append(_facts("drop_table", table=name, **common))
        elif kind == "SCHEMA":
            schema = _ident(target.args.get("db")) if isinstance(target, exp.Table) else name
            results.append(_facts("drop_schema", object=schema or name, **common))
        elif kind == "DATABASE":
            results.append(_facts("drop_database", object=name, **common))
        elif kind == "INDEX":
            on = node.args.get("cluster")
            table = _ident(on.this) if isinstance(on, exp.OnProperty) else None
            index = {"name": name, "unique": False, "method": None}
            results.append(
                _facts(
                    "drop_index",
                    table=table,
                    object=name,
                    index_def=index,
                    concurrently=bool(node.args.get("concurrently")),
                    **common,
                )
            )
        elif kind in ("VIEW", "MATERIALIZED VIEW"):
            results.append(_facts("drop_view", object=name, **common))
        elif kind == "TRIGGER" and (found := _command_simple(code, dialect)):
            results.extend(found)
        else:
            results.append(_facts("unknown", object=name, **common))
    return results


def _alter(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    if str(node.args.get("kind") or "").upper() != "TABLE":
        return [_facts("unknown", object=_ident(node.this))]
    table = _ident(node.this)
    results = []
    for action in node.args.get("actions") or []:
        facts = _alter_action(action, dialect, not_valid=bool(node.args.get("not_valid")), code=code)
        facts["table"] = table
        facts["if_exists"] = facts["if_exists"] or bool(node.args.get("exists"))
        results.append(facts)
    return results or [_facts("unknown", table=table)]


def _dml(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    operations: dict[type[exp.Expr], str] = {exp.Update: "update", exp.Delete: "delete", exp.Insert: "insert"}
    operation = operations.get(type(node), "select")
    table = node.this if operation != "select" else None
    if isinstance(table, exp.Schema):  # INSERT INTO t (a, b)
        table = table.this
    return [
        _facts(
            operation,
            table=_ident(table) if isinstance(table, exp.Table) else None,
            where=node.args.get("where") is not None,
        )
    ]


def _truncate(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    cascade = str(node.args.get("option") or "").upper() == "CASCADE"
    return [_facts("truncate", table=_ident(t), cascade=cascade) for t in node.expressions] or [_facts("truncate")]


def _set(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    results = []
    for item in node.expressions:
        assignment = item.this if isinstance(item, exp.SetItem) else None
        local = str(item.args.get("kind") or "").upper() == "LOCAL"
        if isinstance(assignment, exp.EQ):
            value = assignment.expression
            text = str(value.this) if isinstance(value, exp.Literal) else dialect.sql(value)
            setting = {"name": _setting_name(assignment.this, dialect), "value": text, "local": local}
        else:
            setting = {"name": str(item.args.get("kind") or "").lower() or None, "value": code, "local": local}
        results.append(_facts("set", setting=setting))
    return results or [_facts("set")]


def _setting_name(node: exp.Expr, dialect: _Dialect) -> str:
    """`lock_timeout`, or `myapp.lock_timeout` for a custom setting (which is not the server's timeout)."""
    if isinstance(node, exp.Column):
        return ".".join(n for n in (_ident(node.args.get("table")), _ident(node.this)) if n)
    return dialect.sql(node).lower()


def _transaction(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    if isinstance(node, exp.Rollback) and node.args.get("savepoint") is not None:
        return [_facts("unknown")]  # ROLLBACK TO SAVEPOINT keeps the transaction open
    operations: dict[type[exp.Expr], str] = {exp.Transaction: "begin", exp.Commit: "commit"}
    operation = operations.get(type(node), "rollback")
    return [_facts(operation)]


def _comment_on(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    target = node.this
    if isinstance(target, exp.Column):
        return [_facts("comment", table=_ident(target.args.get("table")), column=_ident(target))]
    return [_facts("comment", table=_ident(target) if isinstance(target, exp.Table) else None)]


def _grant(node: exp.Expr, code: str, dialect: _Dialect) -> list[dict[str, Any]]:
    securable = node.args.get("securable")
    table = _ident(securable) if isinstance(securable, exp.Table) else None
    return [_facts("grant" if isinstance(node, exp.Grant) else "revoke", table=table)]


_Handler = Callable[[exp.Expr, str, _Dialect], list[dict[str, Any]]]
_HANDLERS: dict[type[exp.Expr], _Handler] = {
    exp.Create: _create,
    exp.Drop: _drop,
    exp.Alter: _alter,
    exp.Update: _dml,
    exp.Delete: _dml,
    exp.Insert: _dml,
    exp.Select: _dml,
    exp.Union: _dml,
    exp.TruncateTable: _truncate,
    exp.Set: _set,
    exp.Transaction: _transaction,
    exp.Commit: _transaction,
    exp.Rollback: _transaction,
    exp.Comment: _comment_on,
    exp.Grant: _grant,
    exp.Revoke: _grant,
}


# --------------------------------------------------------------------------- one statement

_TRANSACTION_CONTROL = re.compile(
    r"(?i)^(?:(?P<begin>BEGIN(?:\s+(?:WORK|TRANSACTION))?(?:\s+ISOLATION\s+LEVEL\s+[A-Z ]+|\s+READ\s+(?:ONLY|WRITE)|\s+(?:NOT\s+)?DEFERRABLE)*"
    r"|START\s+TRANSACTION\b.*)"
    r"|(?P<commit>(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?(?:\s+AND\s+(?:NO\s+)?CHAIN)?)"
    r"|(?P<rollback>(?:ROLLBACK|ABORT)(?:\s+(?:WORK|TRANSACTION))?(?:\s+AND\s+(?:NO\s+)?CHAIN)?))\s*$"
)


def _classify(piece: _Piece, dialect: _Dialect) -> tuple[list[dict[str, Any]], str | None]:
    """Facts of one statement and, when SQL cannot be read, sqlglot's message."""
    code = piece.code
    kind = _statement_kind(code)
    if m := _TRANSACTION_CONTROL.match(code):
        # sqlglot reads `START TRANSACTION` and `ABORT` as column names; the grammar here is small and exact.
        found = [_facts(next(k for k, v in m.groupdict().items() if v))]
    else:
        found, error = _parse(piece, code, dialect)
        if error is not None:
            return [_facts("unknown", parser="unknown", statement_kind=kind)], error
    for facts in found:
        facts["statement_kind"] = facts["statement_kind"] or kind
    return found, None


def _parse(piece: _Piece, code: str, dialect: _Dialect) -> tuple[list[dict[str, Any]], str | None]:
    try:
        nodes = [n for n in sqlglot.parse(piece.sql, read=dialect.read) if n is not None]
    except Exception as exc:  # noqa: BLE001 - sqlglot raises assorted errors on what it cannot read; never crash the gate
        # sqlglot lacks some valid syntax (e.g. `ON ONLY`); the regexes may still know the statement.
        found = _from_command(code, dialect)
        if found is not None:
            return found, None
        return [], _parse_message(exc)
    if len(nodes) != 1:
        return [_facts("unknown", parser="unknown")], None
    return _from_expression(nodes[0], code, dialect), None


def _parse_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("description"):
        first = errors[0]
        return f"{first['description']} (near {first.get('highlight', '')!r}, column {first.get('col')})"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
