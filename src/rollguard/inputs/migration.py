"""SQL schema migrations: order the files as the migration tools do and normalise every statement into facts."""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from rollguard.inputs.pending import MigrationRef, PendingSelection, decide, pending_by
from rollguard.model import Artifact, InputProblem, Resource

API_VERSION = "rollguard.io/v1"
KIND = "MigrationFile"
TOOLS = ("auto", "flyway", "golang-migrate", "numbered", "alembic", "django", "plain")
DIALECTS = ("postgres", "mysql")
SQL_LIMIT = 500  # characters of statement text kept in the document

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
_DIRECTIVE_KEYS = {
    "phase": ("expand", "contract"),
    "transaction": ("true", "false"),
    "unparseable": ("unknown", "error"),
}
_SETTING_ALIASES = {
    "lock_timeout": "lock_timeout",
    "statement_timeout": "statement_timeout",
    "lock_wait_timeout": "lock_timeout",  # MySQL: metadata-lock wait, the one DDL queues on
    "max_execution_time": "statement_timeout",  # MySQL
}


class _SqlglotFallbackFilter(logging.Filter):
    """Drop sqlglot's warning for every statement it keeps as a Command: rollguard classifies those itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_SqlglotFallbackFilter())


# --------------------------------------------------------------------------- reading files


def read_sql_file(path: str | Path) -> str | InputProblem:
    """The text of a .sql file, or a problem when it is binary or not UTF-8."""
    name = Path(path).as_posix()
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return InputProblem(name, None, "file not found; check the path")
    except OSError as exc:
        return InputProblem(name, None, f"cannot read file: {exc.strerror or exc}")
    return decode_sql(name, data)


def decode_sql(name: str, data: bytes) -> str | InputProblem:
    """Decode SQL bytes as UTF-8 (a BOM is dropped); binary content is a problem, never guessed at."""
    if b"\x00" in data:
        return InputProblem(name, None, "binary file (it contains NUL bytes), not SQL text; remove it from the change")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return InputProblem(
            name, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        )


def _text_problem(name: str, text: str) -> InputProblem | None:
    if "\x00" in text:
        return InputProblem(name, None, "binary file (it contains NUL bytes), not SQL text; remove it from the change")
    bad = re.search(r"[\ud800-\udfff]", text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        return InputProblem(name, line, "not UTF-8 text (undecodable bytes); save the file as UTF-8")
    return None


# --------------------------------------------------------------------------- splitting statements

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$")
_MYSQL_DELIMITER = re.compile(r"DELIMITER[ \t]+(\S+)[^\n]*", re.IGNORECASE)


@dataclass(frozen=True)
class _Piece:
    """One statement as written: where it starts, its text, and its code without comments."""

    line: int
    sql: str
    code: str


@dataclass(frozen=True)
class Unterminated:
    """A string, quoted identifier, dollar quote or comment that opens and never closes."""

    line: int  # where it opens
    what: str  # `string literal '...'`, for messages
    closer: str  # what would close it

    def message(self) -> str:
        """What the user reads: why nothing after it was judged and what to do."""
        return (
            f"the {self.what} opened here is never closed, so the rest of the file was not read or judged "
            f"(the statements before it were); close it with `{self.closer}`"
        )


@dataclass
class _Split:
    pieces: list[_Piece] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)
    unterminated: Unterminated | None = None


class _Lines:
    """Offset → 1-based line number."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)


def _quoted_end(text: str, i: int, quote: str, *, backslash: bool) -> int:
    """Offset just after the quote that closes the one at `i`; -1 when none does."""
    j = i + 1
    while True:
        k = text.find(quote, j)
        if k < 0:
            return -1
        if backslash and _escaped(text, j, k):
            j = k + 1
            continue
        if text.startswith(quote, k + 1):  # a doubled quote stands for itself
            j = k + 2
            continue
        return k + 1


def _escaped(text: str, start: int, k: int) -> bool:
    run = 0
    while k - run - 1 >= start and text[k - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def _comment_end(text: str, i: int, *, nested: bool) -> int:
    """Offset just after the `*/` that closes the comment at `i`; -1 when none does."""
    depth, j = 0, i
    while j < len(text):
        if nested and text.startswith("/*", j) or j == i:
            depth, j = depth + 1, j + 2
        elif text.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return -1


def _is_escape_string(text: str, i: int) -> bool:
    # PostgreSQL E'...' strings take backslash escapes; a plain '...' does not.
    return i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] in "_$"))


def sql_segments(text: str, *, dialect: str = "postgres") -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) runs of a SQL text: `code`, `comment`, `quoted`, `delimiter`, `client` (MySQL
    DELIMITER) and, last, `unterminated` (a quote or comment that runs to the end of the text)."""
    return _segments(text, mysql=dialect == "mysql")


def _segments(text: str, *, mysql: bool) -> Iterator[tuple[str, int, int]]:
    delimiter, n, i, code_start = ";", len(text), 0, 0
    while i < n:
        kind, end = _segment_at(text, i, delimiter, mysql=mysql)
        if not kind:
            i += 1
            continue
        if end < 0:
            # Whatever follows an unclosed quote or comment is inside it: nothing after it is SQL.
            kind, end = "unterminated", n
        if kind == "client":
            match = _MYSQL_DELIMITER.match(text, i)
            assert match is not None
            delimiter = match.group(1)
        if code_start < i:
            yield "code", code_start, i
        yield kind, i, end
        i = code_start = end
    if code_start < n:
        yield "code", code_start, n


def _segment_at(text: str, i: int, delimiter: str, *, mysql: bool) -> tuple[str, int]:
    c = text[i]
    if text.startswith(delimiter, i):
        return "delimiter", i + len(delimiter)
    if text.startswith("--", i) or (mysql and c == "#"):
        newline = text.find("\n", i)
        return "comment", len(text) if newline < 0 else newline
    if text.startswith("/*", i):
        return "comment", _comment_end(text, i, nested=not mysql)
    if c == "'":
        return "quoted", _quoted_end(text, i, "'", backslash=mysql or _is_escape_string(text, i))
    if c == '"' or (mysql and c == "`"):
        return "quoted", _quoted_end(text, i, c, backslash=mysql and c == '"')
    if c == "$" and not mysql and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_$")):
        tag = _DOLLAR_TAG.match(text, i)
        if tag:
            close = text.find(tag.group(0), tag.end())
            return "quoted", -1 if close < 0 else close + len(tag.group(0))
    if mysql and c in "dD" and not text[text.rfind("\n", 0, i) + 1 : i].strip():
        match = _MYSQL_DELIMITER.match(text, i)
        if match:
            return "client", match.end()
    return "", i


def _unterminated_at(text: str, offset: int, *, line: int, mysql: bool) -> Unterminated:
    """Describe the quote or comment that opens at `offset` and never closes."""
    opener = text[offset : offset + 2]
    if opener == "/*":
        return Unterminated(line, "comment /* ... */", "*/")
    if opener[0] == "$":
        tag = _DOLLAR_TAG.match(text, offset)
        mark = tag.group(0) if tag else "$$"
        return Unterminated(line, f"dollar-quoted string {mark} ... {mark}", mark)
    quote = opener[0]
    if quote == "'" or (mysql and quote == '"'):
        return Unterminated(line, f"string literal {quote}...{quote}", quote)
    return Unterminated(line, f"quoted identifier {quote}...{quote}", quote)


def find_unterminated(text: str, *, dialect: str = "postgres") -> Unterminated | None:
    """The quote or comment of a SQL text that never closes, if any."""
    for kind, start, _ in sql_segments(text, dialect=dialect):
        if kind == "unterminated":
            return _unterminated_at(text, start, line=text.count("\n", 0, start) + 1, mysql=dialect == "mysql")
    return None


def split_statements(text: str, *, dialect: str = "postgres") -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line, statement) pairs and (line, comment) pairs of a SQL text, honouring quotes and comments.

    A statement cut short by a quote or comment that never closes is left out (`find_unterminated` says where).
    """
    split = _split(text, mysql=dialect == "mysql")
    return [(p.line, p.sql) for p in split.pieces], split.comments


def _split(text: str, *, mysql: bool) -> _Split:
    lines, split = _Lines(text), _Split()
    start: int | None = None
    code: list[str] = []

    def flush(at: int) -> None:
        nonlocal start
        if start is not None:
            sql = text[start:at].rstrip()
            split.pieces.append(_Piece(lines.at(start), sql, " ".join("".join(code).split())))
        start = None
        code.clear()

    for kind, a, b in _segments(text, mysql=mysql):
        if kind == "unterminated":
            # The statement it belongs to is cut short: judging the fragment would judge other SQL.
            split.unterminated = _unterminated_at(text, a, line=lines.at(a), mysql=mysql)
            start = None
            code.clear()
            break
        if kind == "comment":
            split.comments.append((lines.at(a), text[a:b]))
            code.append(" ")
        elif kind in ("delimiter", "client"):
            flush(a)
        elif kind == "quoted":
            start = a if start is None else start
            code.append(text[a:b])
        else:
            chunk = text[a:b]
            if start is None and chunk.strip():
                start = a + len(chunk) - len(chunk.lstrip())
            code.append(re.sub(r"\s+", " ", chunk))
    flush(len(text))
    return split


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


def _drop_targets(node: exp.Expr) -> list[exp.Expr | None]:
    # Older sqlglot 30 releases keep the single target of a DROP in `this` instead of `tables`.
    tables = node.args.get("tables")
    return list(tables) if tables else [node.this]


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


# --------------------------------------------------------------------------- statements sqlglot keeps as Command

_TRANSACTION_CONTROL = re.compile(
    r"(?i)^(?:(?P<begin>BEGIN(?:\s+(?:WORK|TRANSACTION))?(?:\s+ISOLATION\s+LEVEL\s+[A-Z ]+|\s+READ\s+(?:ONLY|WRITE)|\s+(?:NOT\s+)?DEFERRABLE)*"
    r"|START\s+TRANSACTION\b.*)"
    r"|(?P<commit>(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?(?:\s+AND\s+(?:NO\s+)?CHAIN)?)"
    r"|(?P<rollback>(?:ROLLBACK|ABORT)(?:\s+(?:WORK|TRANSACTION))?(?:\s+AND\s+(?:NO\s+)?CHAIN)?))\s*$"
)
_REINDEX = re.compile(
    rf"(?i)^REINDEX\s*(?:\((?P<opts>[^)]*)\)\s*)?(?P<what>INDEX|TABLE|SCHEMA|DATABASE|SYSTEM)\s+(?P<conc>CONCURRENTLY\s+)?(?P<name>{_NAME})?"
)
_ADD_VALUE = re.compile(rf"(?i)^ALTER\s+TYPE\s+(?P<name>{_NAME})\s+ADD\s+VALUE\b(?P<ine>\s+IF\s+NOT\s+EXISTS)?")
_CREATE_FUNCTION = re.compile(rf"(?i)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\s+(?P<name>{_NAME})")
_CREATE_EXTENSION = re.compile(rf"(?i)^CREATE\s+EXTENSION\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})")
_CREATE_INDEX = re.compile(
    rf"(?i)^CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?P<conc>CONCURRENTLY\s+)?(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?:(?P<name>{_NAME})\s+)?"
    rf"ON\s+(?:ONLY\s+)?(?P<table>{_NAME})(?:\s+USING\s+(?P<method>\w+))?\s*\((?P<cols>.*)\)"
)
_CREATE_TYPE = re.compile(rf"(?i)^CREATE\s+TYPE\s+(?P<name>{_NAME})")
_CREATE_VIEW = re.compile(
    rf"(?i)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+|MATERIALIZED\s+|RECURSIVE\s+)*VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})"
)
_CREATE_TABLE = re.compile(
    rf"(?i)^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+)?TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})"
)
_ALTER_TABLE = re.compile(
    rf"(?i)^ALTER\s+TABLE\s+(?P<ie>IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<name>{_NAME})\s*\*?\s+(?P<actions>.+)$"
)
_VALIDATE = re.compile(rf"(?i)^VALIDATE\s+CONSTRAINT\s+(?P<name>{_NAME})\s*$")
_USING_INDEX = re.compile(
    rf"(?i)^ADD\s+(?:CONSTRAINT\s+(?P<name>{_NAME})\s+)?(?P<kind>UNIQUE|PRIMARY\s+KEY)\s+USING\s+INDEX\s+(?P<index>{_NAME})"
)
_SET = re.compile(
    rf"(?i)^SET\s+(?:(?P<scope>SESSION|LOCAL)\s+)?(?P<name>{_NAME})\s*(?:=|\s+TO\s+)\s*(?P<value>.+?)\s*$"
)
_SET_CONSTRAINTS = re.compile(r"(?i)^SET\s+CONSTRAINTS\s+(?P<value>.+)$")
_RESET = re.compile(rf"(?i)^RESET\s+(?P<name>{_NAME})\s*$")
_RENAME_TABLE = re.compile(rf"(?i)^RENAME\s+TABLE\s+(?P<name>{_NAME})\s+TO\s+(?P<to>{_NAME})")
_DDL_IN_BODY = re.compile(
    r"(?i)\b(?:ALTER|CREATE|DROP|TRUNCATE|RENAME)\s+(?:TABLE|INDEX|UNIQUE|COLUMN|SCHEMA|TYPE|VIEW|SEQUENCE)\b"
)
# Triggers take a SHARE ROW EXCLUSIVE lock on their table; sequences are objects of their own.
_CREATE_TRIGGER = re.compile(
    rf"(?is)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+(?P<name>{_NAME}).*?\bON\s+(?:ONLY\s+)?(?P<table>{_NAME})"
)
_DROP_TRIGGER = re.compile(
    rf"(?is)^DROP\s+TRIGGER\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{_NAME})\s+ON\s+(?:ONLY\s+)?(?P<table>{_NAME})"
)
_SEQUENCE = re.compile(
    rf"(?i)^(?P<verb>CREATE|ALTER)\s+(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?SEQUENCE\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(?P<name>{_NAME})"
)

_HEADS = (
    (re.compile(r"(?i)^COMMENT\s+ON\b"), "comment"),
    (re.compile(r"(?i)^GRANT\b"), "grant"),
    (re.compile(r"(?i)^REVOKE\b"), "revoke"),
    (re.compile(r"(?i)^(?:WITH\b.*?\b)?INSERT\s+INTO\b"), "insert"),
    (re.compile(r"(?i)^SELECT\b"), "select"),
)


def _from_command(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    """Facts of a statement sqlglot could not give a structure to, from careful regexes; None when unrecognised."""
    for classify in (_command_simple, _command_index, _command_alter_table, _command_set):
        found = classify(code, dialect)
        if found is not None:
            for facts in found:
                facts["parser"] = "command" if facts["operation"] != "unknown" else facts["parser"]
            return found
    return None


def _command_simple(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    if re.match(r"(?i)^DO\b", code):
        return [_facts("do_block", is_ddl=bool(_DDL_IN_BODY.search(code)))]
    if m := _REINDEX.match(code):
        concurrent = bool(m.group("conc")) or _option_on(m.group("opts") or "", "CONCURRENTLY")
        name = _norm_name(m.group("name")) if m.group("name") else None
        table = name if m.group("what").upper() == "TABLE" else None
        return [_facts("reindex", table=table, object=name, concurrently=concurrent)]
    if m := _ADD_VALUE.match(code):
        return [_facts("alter_type_add_value", object=_norm_name(m.group("name")), if_exists=bool(m.group("ine")))]
    if m := _CREATE_FUNCTION.match(code):
        return [_facts("create_function", object=_norm_name(m.group("name")))]
    if m := _CREATE_EXTENSION.match(code):
        return [_facts("create_extension", object=_norm_name(m.group("name")), if_exists=bool(m.group("ine")))]
    if m := _CREATE_TYPE.match(code):
        return [_facts("create_type", object=_norm_name(m.group("name")))]
    if m := _CREATE_VIEW.match(code):
        return [_facts("create_view", object=_norm_name(m.group("name")))]
    if m := _CREATE_TRIGGER.match(code):
        return [_facts("create_trigger", object=_norm_name(m.group("name")), table=_norm_name(m.group("table")))]
    if m := _DROP_TRIGGER.match(code):
        return [
            _facts(
                "drop_trigger",
                object=_norm_name(m.group("name")),
                table=_norm_name(m.group("table")),
                if_exists=bool(m.group("ie")),
            )
        ]
    if m := _SEQUENCE.match(code):
        operation = "create_sequence" if m.group("verb").upper() == "CREATE" else "alter_sequence"
        return [_facts(operation, object=_norm_name(m.group("name")))]
    if m := _CREATE_TABLE.match(code):
        return [_facts("create_table", table=_norm_name(m.group("name")), if_exists=bool(m.group("ine")))]
    if m := _RENAME_TABLE.match(code):
        return [_facts("rename_table", table=_norm_name(m.group("name")), new_name=_norm_name(m.group("to")))]
    for pattern, operation in _HEADS:
        if pattern.match(code):
            return [_facts(operation)]
    return None


def _option_on(options: str, name: str) -> bool:
    """Whether a PostgreSQL option list like `(CONCURRENTLY false, VERBOSE)` switches `name` on."""
    m = re.search(rf"(?i)\b{name}\b\s*(?P<value>\w+)?", options)
    return m is not None and (m.group("value") or "true").lower() not in ("false", "off", "0")


def _command_index(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    m = _CREATE_INDEX.match(code)
    if not m:
        return None
    name = _norm_name(m.group("name")) if m.group("name") else None
    columns = [
        _norm_name(c) if re.fullmatch(_NAME, c.strip()) else c.strip() for c in _top_level_split(m.group("cols"))
    ]
    return [
        _facts(
            "create_index",
            table=_norm_name(m.group("table")),
            object=name,
            columns=[c for c in columns if c],
            index_def={
                "name": name,
                "unique": bool(m.group("unique")),
                "method": (m.group("method") or "").lower() or None,
            },
            concurrently=bool(m.group("conc")),
            if_exists=bool(m.group("ine")),
        )
    ]


def _command_alter_table(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    m = _ALTER_TABLE.match(code)
    if not m:
        return None
    table = _norm_name(m.group("name"))
    results = []
    for action in _top_level_split(m.group("actions")):
        facts = _alter_table_action(m.group("name"), action.strip(), dialect)
        facts["table"] = table
        facts["if_exists"] = facts["if_exists"] or bool(m.group("ie"))
        results.append(facts)
    return results


def _alter_table_action(raw_table: str, action: str, dialect: _Dialect) -> dict[str, Any]:
    """One action of an ALTER TABLE that sqlglot kept as a Command: regexes first, then sqlglot on the action alone."""
    if m := _VALIDATE.match(action):
        return _facts(
            "validate_constraint", parser="command", constraint=_constraint(None, _norm_name(m.group("name")))
        )
    if m := _USING_INDEX.match(action):
        kind = "unique" if m.group("kind").upper() == "UNIQUE" else "primary_key"
        name = _norm_name(m.group("name")) if m.group("name") else None
        constraint = _constraint(kind, name, using_index=_norm_name(m.group("index")))
        return _facts("add_constraint", parser="command", constraint=constraint)
    try:
        node = sqlglot.parse_one(f"ALTER TABLE {raw_table} {action}", read=dialect.read)
    except Exception:  # noqa: BLE001 - sqlglot raises assorted errors on what it cannot read; the action stays unknown
        return _facts("unknown", parser="unknown", statement_kind=_action_kind(action))
    if isinstance(node, exp.Alter) and len(node.args.get("actions") or []) == 1:
        facts = _alter_action(node.args["actions"][0], dialect, not_valid=bool(node.args.get("not_valid")), code=action)
        facts["parser"] = "command" if facts["operation"] != "unknown" else "unknown"
        if facts["operation"] == "unknown":
            facts["statement_kind"] = _action_kind(action)
        return facts
    return _facts("unknown", parser="unknown", statement_kind=_action_kind(action))


def _action_kind(action: str) -> str:
    words = re.findall(r"[A-Za-z]+", action)[:3]
    return "alter table " + " ".join(w.lower() for w in words)


def _command_set(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    if m := _SET_CONSTRAINTS.match(code):  # Django emits it after adding a deferred foreign key
        return [_facts("set", setting={"name": "constraints", "value": m.group("value"), "local": True})]
    if m := _RESET.match(code):
        return [_facts("set", setting={"name": _norm_name(m.group("name")), "value": None, "local": False})]
    if m := _SET.match(code):
        value = m.group("value")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        local = (m.group("scope") or "").upper() == "LOCAL"
        return [_facts("set", setting={"name": _norm_name(m.group("name")), "value": value, "local": local})]
    return None


def _top_level_split(text: str) -> list[str]:
    """Split at commas outside parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for c in text:
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(c)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


# --------------------------------------------------------------------------- one statement


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


# --------------------------------------------------------------------------- files and the change


@dataclass
class _File:
    """One migration file while the change is read."""

    name: str
    text: str
    tool: str
    version: str | None
    description: str | None
    direction: str
    sort_key: tuple[Any, ...]


_FLYWAY_VERSIONED = re.compile(r"^(?P<prefix>[VU])(?P<version>\d+(?:[._]\d+)*)__(?P<desc>.*)\.sql$")
_FLYWAY_REPEATABLE = re.compile(r"^R__(?P<desc>.*)\.sql$")
_GOLANG_MIGRATE = re.compile(r"^(?P<version>\d+)_(?P<desc>.*)\.(?P<direction>up|down)\.sql$", re.IGNORECASE)
_NUMBERED = re.compile(r"^(?P<version>\d+)(?:[_-](?P<desc>.*?))?\.sql$", re.IGNORECASE)
_ALEMBIC_REVISION = re.compile(r"--\s*Running\s+(?P<dir>upgrade|downgrade)\s+(?P<src>\S*)\s*->\s*(?P<dst>\S+)")


def _natural(name: str) -> tuple[Any, ...]:
    """Sort key that puts `v1.9` before `v1.10` and `9_x` before `10_x`."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.split(r"[._]", version))


def _describe(name: str, text: str, tool: str) -> _File:
    """Tool, version, description, direction and sort key of one file name."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    natural = _natural(name)
    if tool in ("auto", "flyway"):
        if m := _FLYWAY_VERSIONED.match(base):
            version = ".".join(str(int(p)) for p in re.split(r"[._]", m.group("version")))
            down = m.group("prefix") == "U"
            return _File(
                name,
                text,
                "flyway",
                version,
                m.group("desc"),
                "down" if down else "up",
                (0, _version_key(version), natural),
            )
        if m := _FLYWAY_REPEATABLE.match(base):
            return _File(name, text, "flyway", None, m.group("desc"), "up", (1, (), natural))
    if tool in ("auto", "golang-migrate") and (m := _GOLANG_MIGRATE.match(base)):
        version = str(int(m.group("version")))
        return _File(
            name,
            text,
            "golang-migrate",
            version,
            m.group("desc"),
            m.group("direction").lower(),
            (0, (int(version),), natural),
        )
    if tool == "alembic" or (tool == "auto" and _ALEMBIC_REVISION.search(text) and "alembic_version" in text):
        revisions = [m.group("dst") for m in _ALEMBIC_REVISION.finditer(text)]
        down = any(m.group("dir") == "downgrade" for m in _ALEMBIC_REVISION.finditer(text))
        return _File(
            name,
            text,
            "alembic",
            revisions[-1] if revisions else None,
            None,
            "down" if down else "up",
            (2, (), natural),
        )
    if tool in ("auto", "numbered") and (m := _NUMBERED.match(base)):
        version = str(int(m.group("version")))
        return _File(name, text, "numbered", version, m.group("desc") or None, "up", (0, (int(version),), natural))
    resolved = tool if tool in ("django", "flyway", "golang-migrate", "numbered") else "plain"
    return _File(name, text, resolved, None, None, "up", (2, (), natural))


def _ordered(files: list[_File]) -> list[_File]:
    """Up files in the tools' order, then down files newest first (they undo in reverse)."""
    ups = sorted((f for f in files if f.direction == "up"), key=lambda f: f.sort_key)
    downs = sorted((f for f in files if f.direction == "down"), key=lambda f: f.sort_key, reverse=True)
    return ups + downs


@dataclass
class _Directives:
    phase: str = "expand"
    transaction: bool | None = None
    unparseable: str = "error"
    problems: list[InputProblem] = field(default_factory=list)


def _directives(name: str, comments: list[tuple[int, str]]) -> _Directives:
    """`-- rollguard: key=value ...` comments of one file; a misspelt directive is a problem, not ignored."""
    found = _Directives()
    for line, comment in comments:
        m = re.match(r"^(?:--|/\*)\s*rollguard\s*:\s*(?P<body>.*?)\s*(?:\*/)?\s*$", comment, re.IGNORECASE | re.DOTALL)
        if not m:
            continue
        for pair in re.split(r"[\s,]+", m.group("body")):
            if not pair:
                continue
            key, _, value = pair.partition("=")
            key, value = key.strip().lower(), value.strip().lower()
            allowed = _DIRECTIVE_KEYS.get(key)
            if allowed is None or value not in allowed:
                choices = "; ".join(f"{k}={'|'.join(v)}" for k, v in _DIRECTIVE_KEYS.items())
                found.problems.append(
                    InputProblem(name, line, f"unknown rollguard directive {pair!r}; expected one of {choices}")
                )
            elif key == "phase":
                found.phase = value
            elif key == "transaction":
                found.transaction = value == "true"
            else:
                found.unparseable = value
    return found


def _tool_wraps(file: _File, comments: list[tuple[int, str]]) -> bool:
    """Whether the migration tool runs this file inside one transaction of its own."""
    joined = "\n".join(c for _, c in comments)
    if re.search(r"(?i)executeInTransaction\s*=\s*false", joined):  # Flyway script configuration
        return False
    if re.search(r"(?i)\+goose\s+NO\s+TRANSACTION", joined) or re.search(r"(?i)migrate:up\s+transaction:false", joined):
        return False
    # golang-migrate sends the file as is; alembic and django print their BEGIN/COMMIT into the SQL.
    return file.tool not in ("golang-migrate", "alembic", "django")


_NON_TRANSACTIONAL_KINDS = frozenset(
    {"vacuum", "create database", "drop database", "alter system", "create tablespace", "drop tablespace"}
)


def _cannot_run_in_transaction(facts: dict[str, Any]) -> bool:
    """Statements PostgreSQL refuses inside a transaction block (Flyway then runs the file without one)."""
    concurrent = facts["operation"] in ("create_index", "drop_index", "reindex") and facts["concurrently"]
    return concurrent or facts["statement_kind"] in _NON_TRANSACTIONAL_KINDS


@dataclass
class _Session:
    """Transaction and timeout state while one file's statements are walked in order."""

    transaction: int | None
    next_transaction: int
    session: dict[str, str | None] = field(default_factory=dict)
    local: dict[str, str | None] = field(default_factory=dict)

    def in_force(self, name: str) -> str | None:
        return self.local[name] if name in self.local else self.session.get(name)

    def begin(self) -> None:
        if self.transaction is None:  # BEGIN inside a transaction only warns in PostgreSQL
            self.transaction, self.next_transaction = self.next_transaction, self.next_transaction + 1

    def end(self) -> None:
        self.transaction = None
        self.local.clear()  # SET LOCAL ends with its transaction

    def apply(self, setting: dict[str, Any]) -> None:
        name = _SETTING_ALIASES.get(str(setting.get("name") or "").lower())
        if name is None:
            return
        value = setting.get("value")
        # 0 and DEFAULT switch the timeout off: for a policy that is the same as never setting it.
        effective = (
            None
            if value is None or str(value).strip().strip("'").lower() in ("0", "default", "0s", "0ms")
            else str(value)
        )
        if setting.get("local"):
            if self.transaction is not None:  # SET LOCAL outside a transaction has no effect
                self.local[name] = effective
        else:
            self.session[name] = effective
            self.local.pop(name, None)


@dataclass(frozen=True)
class _Creator:
    """The file of the change whose CREATE TABLE made a table, and whether that file is pending."""

    file: str
    pending: bool | None


def load_migrations(
    sources: Sequence[tuple[str, str]],
    *,
    tool: str = "auto",
    dialect: str = "postgres",
    include_down: bool = False,
    pending: PendingSelection | None = None,
) -> tuple[list[Artifact], list[InputProblem]]:
    """One `migration` artifact per SQL file of a change, in the order the migration tool applies them.

    `pending` says which files have not run yet; without it no file is known to be pending, and a table
    counts as new only after the CREATE TABLE of the same file.
    """
    if tool not in TOOLS:
        raise ValueError(f"unknown migration tool {tool!r} (expected one of {', '.join(TOOLS)})")
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r} (expected one of {', '.join(DIALECTS)})")
    problems: list[InputProblem] = []
    files: list[_File] = []
    for name, text in sources:
        problem = _text_problem(name, text)
        if problem is not None:
            problems.append(problem)
            continue
        file = _describe(name, text.removeprefix("\ufeff"), tool)
        if file.direction == "up" or include_down:
            files.append(file)
    artifacts: list[Artifact] = []
    created: dict[str, _Creator] = {}  # tables created earlier in the change, by key
    sql_dialect = _Dialect(dialect)
    ordered = _ordered(files)
    states: list[bool | None] = [None] * len(ordered)
    if pending is not None:
        states, found = decide(pending, [_reference(f) for f in ordered])
        problems.extend(found)
    for order, file in enumerate(ordered):
        status = {"pending": states[order], "pending_by": pending_by(pending) if pending is not None else None}
        doc, found = _document(file, order, sql_dialect, created, status)
        problems.extend(found)
        resource = Resource(api_version=API_VERSION, kind=KIND, namespace=None, name=file.name)
        artifacts.append(Artifact(kind="migration", document=doc, file=file.name, line=1, resource=resource))
    return artifacts, problems


def migration_ref(name: str, text: str, *, tool: str = "auto") -> MigrationRef:
    """What deciding whether one file is pending needs to know about it (tool, version, alembic revisions)."""
    return _reference(_describe(name, text.removeprefix("\ufeff"), tool))


def _reference(file: _File) -> MigrationRef:
    revisions = tuple((m.group("src"), m.group("dst")) for m in _ALEMBIC_REVISION.finditer(file.text))
    return MigrationRef(file.name, file.tool, file.version, file.direction, revisions if file.tool == "alembic" else ())


def _document(
    file: _File, order: int, dialect: _Dialect, created: dict[str, _Creator], status: dict[str, Any]
) -> tuple[dict[str, Any], list[InputProblem]]:
    """The MigrationFile document of one file and the problems met reading it."""
    split = _split(file.text, mysql=dialect.name == "mysql")
    directives = _directives(file.name, split.comments)
    problems = list(directives.problems)
    if split.unterminated is not None:
        problems.append(InputProblem(file.name, split.unterminated.line, split.unterminated.message()))
    classified: list[tuple[_Piece, dict[str, Any]]] = []
    for piece in split.pieces:
        found, error = _classify(piece, dialect)
        if error is not None and directives.unparseable == "error":
            problems.append(
                InputProblem(
                    file.name,
                    piece.line,
                    f"cannot parse SQL: {error}; fix the statement or mark the file with "
                    "`-- rollguard: unparseable=unknown` to judge it as an unknown statement",
                )
            )
        classified.extend((piece, facts) for facts in found)
    wraps = _tool_wraps(file, split.comments) if directives.transaction is None else directives.transaction
    if wraps and file.tool == "flyway" and dialect.name == "postgres" and directives.transaction is None:
        wraps = not any(_cannot_run_in_transaction(facts) for _, facts in classified)
    statements = _walk(classified, file, dialect, created, wraps=wraps, pending=status["pending"])
    numbers = {s["transaction"] for s in statements}
    transactional = wraps if not statements else (len(numbers) == 1 and None not in numbers)
    doc = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": file.name},
        "file": file.name,
        "tool": file.tool,
        "version": file.version,
        "description": file.description,
        "direction": file.direction,
        "order": order,
        **status,
        "phase": directives.phase,
        "dialect": dialect.name,
        "transactional": transactional,
        "statements": statements,
    }
    return doc, problems


def _walk(
    classified: list[tuple[_Piece, dict[str, Any]]],
    file: _File,
    dialect: _Dialect,
    created: dict[str, _Creator],
    *,
    wraps: bool,
    pending: bool | None,
) -> list[dict[str, Any]]:
    """Add position, transaction, timeout and new-table facts to every statement, in execution order."""
    state = _Session(transaction=0 if wraps else None, next_transaction=1 if wraps else 0)
    revisions = _revisions(file)
    statements: list[dict[str, Any]] = []
    previous: _Piece | None = None
    part = 0
    for index, (piece, facts) in enumerate(classified):
        part = part + 1 if piece is previous else 0
        previous = piece
        operation = facts["operation"]
        if operation == "begin":
            state.begin()
        transaction = state.transaction
        is_ddl = facts.pop("is_ddl", operation in _DDL or _is_ddl_kind(facts["statement_kind"]))
        if dialect.name == "mysql" and is_ddl:
            transaction = None  # MySQL commits implicitly around every DDL statement
        creator = created.get(_table_key(facts["table"])) if facts["table"] else None
        statement = {
            "index": index,
            "line": piece.line,
            "part": part,
            "sql": piece.sql[:SQL_LIMIT],
            **facts,
            "is_ddl": is_ddl,
            "in_transaction": transaction is not None,
            "transaction": transaction,
            # New means no running version uses it yet: created earlier in this file, or in an earlier
            # file known to be pending. A file that may have run already may have created it long ago.
            "table_is_new": creator is not None and (creator.file == file.name or creator.pending is True),
            "table_created_in": None if creator is None else {"file": creator.file, "pending": creator.pending},
            "lock_timeout": state.in_force("lock_timeout"),
            "statement_timeout": state.in_force("statement_timeout"),
            "revision": next((rev for line, rev in reversed(revisions) if line <= piece.line), None),
            "observed": None,
        }
        statements.append(statement)
        if operation in ("commit", "rollback"):
            state.end()
        elif operation == "set" and facts["setting"]:
            state.apply(facts["setting"])
        _track_tables(facts, created, _Creator(file.name, pending))
    return statements


def _revisions(file: _File) -> list[tuple[int, str]]:
    """(line, revision) of every `-- Running upgrade a -> b` comment alembic prints."""
    if file.tool != "alembic":
        return []
    return [(file.text.count("\n", 0, m.start()) + 1, m.group("dst")) for m in _ALEMBIC_REVISION.finditer(file.text)]


def _is_ddl_kind(kind: str | None) -> bool:
    return bool(kind) and str(kind).split(" ", 1)[0] in ("create", "alter", "drop", "rename")


def _track_tables(facts: dict[str, Any], created: dict[str, _Creator], here: _Creator) -> None:
    table = facts["table"]
    if not table:
        return
    key = _table_key(table)
    if facts["operation"] == "create_table":
        created[key] = here
    elif facts["operation"] == "drop_table":
        created.pop(key, None)
    elif facts["operation"] == "rename_table" and key in created and facts["new_name"]:
        created[_table_key(facts["new_name"])] = created.pop(key)
