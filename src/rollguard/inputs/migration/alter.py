"""Column definitions and ALTER TABLE actions as sqlglot reads them, with the volatility of column defaults.

Shared by whole statements and by the actions of an ALTER TABLE that the fallback reads one at a time.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

from rollguard.inputs.migration.facts import _constraint, _Dialect, _facts, _ident

# Functions that return a different value on every call (PostgreSQL `provolatile = 'v'`, and MySQL's
# equivalents). A column default calling one of them forces a table rewrite when the column is added.
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "random_normal",
        "setseed",
        "gen_random_uuid",
        "gen_random_bytes",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "uuid",
        "uuid_short",
        "rand",
        "sysdate",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "currval",
        "lastval",
        "txid_current",
        "txid_current_if_assigned",
        "pg_current_xact_id",
    }
)

# Functions known not to be volatile (stable or immutable): a default using only these (and constants) is
# evaluated once, so adding the column does not rewrite the table. Any other function counts as unknown.
NON_VOLATILE_FUNCTIONS = frozenset(
    {
        "now",
        "current_timestamp",
        "current_date",
        "current_time",
        "localtimestamp",
        "localtime",
        "transaction_timestamp",
        "statement_timestamp",
        "current_user",
        "session_user",
        "current_schema",
        "cast",
        "try_cast",
        "array",
        "struct",
        "interval",
        "lower",
        "upper",
        "coalesce",
        "nullif",
        "greatest",
        "least",
        "concat",
        "length",
        "trim",
        "abs",
        "floor",
        "ceil",
        "round",
        "date_trunc",
        "make_interval",
        "to_jsonb",
        "jsonb_build_object",
        "json_build_object",
        "jsonb_build_array",
        "json_build_array",
        "parse_json",
        "utc_timestamp",
    }
)

_SERIAL_TYPES = frozenset({exp.DataType.Type.SERIAL, exp.DataType.Type.BIGSERIAL, exp.DataType.Type.SMALLSERIAL})

# --------------------------------------------------------------------------- volatility


def _function_names(node: exp.Expr, dialect: _Dialect) -> list[str]:
    names = []
    for func in node.find_all(exp.Func):
        if isinstance(func, exp.Anonymous):
            names.append(str(func.this).lower())
            continue
        head = re.match(r"[A-Za-z_][\w]*", dialect.sql(func))
        if head:
            names.append(head.group(0).lower())
    return names


def _volatility(node: exp.Expr | None, dialect: _Dialect) -> str:
    """`constant`, `stable`, `volatile` or `unknown` (a function rollguard does not know)."""
    if node is None:
        return "constant"
    names = _function_names(node, dialect)
    if any(n in VOLATILE_FUNCTIONS for n in names):
        return "volatile"
    if any(n not in NON_VOLATILE_FUNCTIONS for n in names):
        return "unknown"
    return "stable" if names else "constant"


# --------------------------------------------------------------------------- column definitions


def _column_def(col: exp.ColumnDef, dialect: _Dialect, code: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The `column_def` facts of a column definition and its first inline constraint."""
    kind = col.args.get("kind")
    serial = isinstance(kind, exp.DataType) and kind.this in _SERIAL_TYPES
    default: exp.Expr | None = None
    not_null, stored, identity = serial, False, False
    constraint: dict[str, Any] | None = None
    for item in col.constraints:
        spec, name = item.args.get("kind"), _ident(item.args.get("this"))
        if isinstance(spec, exp.NotNullColumnConstraint):
            not_null = not spec.args.get("allow_null")
        elif isinstance(spec, exp.DefaultColumnConstraint):
            default = spec.this
        elif isinstance(spec, exp.ComputedColumnConstraint):
            stored = bool(spec.args.get("persisted")) or _stored_generated(code, dialect)
        elif isinstance(spec, exp.GeneratedAsIdentityColumnConstraint):
            identity = True
        elif isinstance(spec, exp.PrimaryKeyColumnConstraint):
            not_null = True
            constraint = constraint or _constraint("primary_key", name)
        elif isinstance(spec, exp.UniqueColumnConstraint):
            constraint = constraint or _constraint("unique", name)
        elif isinstance(spec, exp.Reference):
            constraint = constraint or _constraint("foreign_key", name)
        elif isinstance(spec, exp.CheckColumnConstraint):
            constraint = constraint or _constraint("check", name, expression=dialect.sql(spec.this))
    volatility = _volatility(default, dialect)
    if serial or identity:
        # serial and identity columns fill existing rows from a sequence: nextval() is volatile.
        volatility = "volatile"
    facts = {
        "type": dialect.sql(kind).lower() if isinstance(kind, exp.Expr) else None,
        "not_null": not_null,
        "has_default": default is not None or serial or identity,
        "default": dialect.sql(default) if default is not None else None,
        "default_volatile": volatility in ("volatile", "unknown"),
        "default_volatility": volatility,
        "generated_stored": stored,
    }
    return facts, constraint


def _stored_generated(code: str, dialect: _Dialect) -> bool:
    # sqlglot drops the STORED keyword. PostgreSQL before 18 only has stored generated columns and 18 defaults
    # to virtual ones, so count it stored unless VIRTUAL is written; MySQL defaults to virtual.
    if re.search(r"(?i)\bSTORED\b", code):
        return True
    return dialect.name == "postgres" and not re.search(r"(?i)\bVIRTUAL\b", code)


# --------------------------------------------------------------------------- ALTER TABLE actions


def _drop_targets(node: exp.Expr) -> list[exp.Expr | None]:
    # Older sqlglot 30 releases keep the single target of a DROP in `this` instead of `tables`.
    tables = node.args.get("tables")
    return list(tables) if tables else [node.this]


def _alter_action(action: exp.Expr, dialect: _Dialect, *, not_valid: bool, code: str) -> dict[str, Any]:
    if isinstance(action, exp.ColumnDef):
        column_def, constraint = _column_def(action, dialect, code)
        return _facts(
            "add_column",
            column=_ident(action.this),
            column_def=column_def,
            constraint=constraint,
            if_exists=bool(action.args.get("exists")),
        )
    if isinstance(action, exp.AlterColumn):
        return _alter_column(action, dialect)
    if isinstance(action, exp.Drop):
        return _alter_drop(action)
    if isinstance(action, exp.AddConstraint):
        return _add_constraint(action, dialect, not_valid=not_valid)
    if isinstance(action, exp.AlterRename):
        return _facts("rename_table", new_name=_ident(action.this))
    if isinstance(action, exp.RenameColumn):
        return _facts("rename_column", column=_ident(action.this), new_name=_ident(action.args.get("to")))
    if isinstance(action, exp.ModifyColumn):  # MySQL MODIFY / CHANGE COLUMN
        col = action.this
        modified = _column_def(col, dialect, code)[0] if isinstance(col, exp.ColumnDef) else None
        renamed = action.args.get("rename_from")
        to = modified["type"] if modified else None
        return _facts(
            "alter_column_type",
            column=_ident(renamed) or _ident(col.this),
            new_name=_ident(col.this) if renamed else None,
            column_def=modified,
            type_change={"to": to, "using": False},
        )
    return _facts("unknown")


def _alter_column(action: exp.AlterColumn, dialect: _Dialect) -> dict[str, Any]:
    column = _ident(action.this)
    args = action.args
    if args.get("dtype") is not None:
        change = {"to": dialect.sql(args["dtype"]).lower(), "using": isinstance(args.get("using"), exp.Expr)}
        return _facts("alter_column_type", column=column, type_change=change)
    if args.get("allow_null") is False:
        return _facts("set_not_null", column=column)
    if args.get("drop") and args.get("allow_null"):
        return _facts("drop_not_null", column=column)
    if args.get("default") is not None:
        default = args["default"]
        volatility = _volatility(default, dialect)
        column_def = {
            "type": None,
            "not_null": False,
            "has_default": True,
            "default": dialect.sql(default),
            "default_volatile": volatility in ("volatile", "unknown"),
            "default_volatility": volatility,
            "generated_stored": False,
        }
        return _facts("set_default", column=column, column_def=column_def)
    if args.get("drop"):
        return _facts("drop_default", column=column)
    return _facts("unknown", column=column)


def _alter_drop(action: exp.Drop) -> dict[str, Any]:
    kind = str(action.args.get("kind") or "").upper()
    target = _drop_targets(action)[0]
    common = {"cascade": bool(action.args.get("cascade")), "if_exists": bool(action.args.get("exists"))}
    if kind == "COLUMN":
        return _facts("drop_column", column=_ident(target), **common)
    if kind in ("CONSTRAINT", "FOREIGN KEY", "PRIMARY KEY", "CHECK"):
        types = {"FOREIGN KEY": "foreign_key", "PRIMARY KEY": "primary_key", "CHECK": "check"}
        return _facts("drop_constraint", constraint=_constraint(types.get(kind), _ident(target)), **common)
    if kind in ("INDEX", "KEY"):  # MySQL ALTER TABLE ... DROP INDEX
        return _facts(
            "drop_index",
            object=_ident(target),
            index_def={"name": _ident(target), "unique": False, "method": None},
            **common,
        )
    return _facts("unknown", **common)


def _add_constraint(action: exp.AddConstraint, dialect: _Dialect, *, not_valid: bool) -> dict[str, Any]:
    spec = action.expressions[0] if action.expressions else None
    name = None
    if isinstance(spec, exp.Constraint):
        name = _ident(spec.this)
        spec = spec.expressions[0] if spec.expressions else None
    if isinstance(spec, exp.IndexColumnConstraint):  # MySQL ADD INDEX / ADD KEY
        index_name = _ident(spec.this)
        columns = [_ident(c) or dialect.sql(c) for c in spec.expressions]
        return _facts(
            "create_index",
            object=index_name,
            columns=columns,
            index_def={"name": index_name, "unique": False, "method": None},
        )
    kind, expression, columns = _constraint_shape(spec, dialect)
    return _facts(
        "add_constraint",
        columns=columns,
        constraint=_constraint(kind, name, not_valid=not_valid, expression=expression),
    )


def _constraint_shape(spec: exp.Expr | None, dialect: _Dialect) -> tuple[str | None, str | None, list[str]]:
    """(type, check expression, columns) of a table constraint."""
    if isinstance(spec, exp.ForeignKey):
        return "foreign_key", None, [n for n in (_ident(c) for c in spec.expressions) if n]
    if isinstance(spec, (exp.PrimaryKey, exp.PrimaryKeyColumnConstraint)):
        return "primary_key", None, [n for n in (_ident(c) for c in spec.expressions) if n]
    if isinstance(spec, exp.UniqueColumnConstraint):
        schema = spec.this
        cols = schema.expressions if isinstance(schema, exp.Schema) else []
        return "unique", None, [n for n in (_ident(c) for c in cols) if n]
    if isinstance(spec, exp.CheckColumnConstraint):
        return "check", dialect.sql(spec.this), []
    if isinstance(spec, exp.ExcludeColumnConstraint):
        return "exclusion", None, []
    return None, None, []
