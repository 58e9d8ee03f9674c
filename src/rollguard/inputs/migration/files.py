"""Migration files: read them, order them as their tool applies them, and build one MigrationFile document each."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollguard.inputs.migration.facts import _DDL, _Dialect, _table_key
from rollguard.inputs.migration.lexer import _Piece, _split
from rollguard.inputs.migration.statements import _classify
from rollguard.inputs.pending import MigrationRef, PendingSelection, decide, pending_by
from rollguard.model import Artifact, InputProblem, Resource

API_VERSION = "rollguard.io/v1"
KIND = "MigrationFile"
TOOLS = ("auto", "flyway", "golang-migrate", "numbered", "alembic", "django", "plain")
DIALECTS = ("postgres", "mysql")
SQL_LIMIT = 500  # characters of statement text kept in the document
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
