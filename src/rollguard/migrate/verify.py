"""Apply migrations to a disposable PostgreSQL database, observe locks, rewrites and timings, and roll back.

The files of a change run in order in one transaction on the scratch database, which is only ever
rolled back. Around every statement the backend's own relation locks (`pg_locks` for
`pg_backend_pid()`) and the `pg_relation_filenode` of every table that existed before the change
are compared with what they were before it. Statements PostgreSQL refuses inside a transaction
(`CREATE INDEX CONCURRENTLY`, `VACUUM`, ...) run on a throw-away copy of the scratch database,
where a second connection samples `pg_locks` for the worker's pid while the statement runs. The
facts are attached to the statements of new artifacts as `observed`, so the migration policies
judge them. Files the loader knows to have run already (`pending: false`) are applied first and
committed to a throw-away copy of the scratch database, which then stands in for it: in one
transaction with the pending files, their locks would still be held and hide the pending files'
own. Files the scratch database's history table records as applied are not applied again.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rollguard.errors import ConfigError
from rollguard.model import Artifact, InputProblem

if TYPE_CHECKING:
    import psycopg

MIGRATION_KIND = "migration"
# Databases that are never disposable: the maintenance database and the templates.
REFUSED_DATABASES = frozenset({"postgres", "template0", "template1"})
# The loader keeps at most this many characters of a statement in `sql` (a preview).
SQL_PREVIEW_LIMIT = 500
APPLICATION_NAME = "rollguard migrate verify"
COPY_PREFIX = "rollguard_verify_"
# How often the monitoring connection samples pg_locks while a statement runs outside a transaction.
POLL_SECONDS = 0.0005

Category = Literal["transactional", "outside", "control", "server"]

# Relations owned by the system (catalogs, TOAST, any session's temporary schema) are noise.
_USER_RELATIONS = """
    SELECT c.oid
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND n.nspname !~ '^pg_(toast_)?temp_'
"""
_TABLE_FILES = """
    SELECT c.oid, c.oid::regclass::text, pg_relation_filenode(c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND n.nspname !~ '^pg_(toast_)?temp_'
"""
_OWN_LOCKS = """
    SELECT l.relation, l.relation::regclass::text, l.mode
    FROM pg_locks l
    WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_BACKEND_LOCKS = """
    SELECT l.relation, l.relation::regclass::text, l.mode
    FROM pg_locks l
    WHERE l.pid = %s AND l.locktype = 'relation'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

# A deferred constraint trigger that raises: should any statement commit the scratch
# transaction after all (a COMMIT hidden in a DO block, a driver quirk), the commit fails and
# PostgreSQL rolls everything back. Transaction control statements are skipped before that.
_NEVER_COMMIT = (
    "CREATE FUNCTION pg_temp.rollguard_never_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " RAISE EXCEPTION 'rollguard migrate verify never commits the scratch database'; END $$",
    "CREATE TEMPORARY TABLE rollguard_never_commit (id integer)",
    "CREATE CONSTRAINT TRIGGER rollguard_never_commit AFTER INSERT ON pg_temp.rollguard_never_commit"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE PROCEDURE pg_temp.rollguard_never_commit()",
    "INSERT INTO pg_temp.rollguard_never_commit VALUES (1)",
)

_CONTROL = re.compile(
    r"(BEGIN|START TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE TRANSACTION"
    r"|SET TRANSACTION|SET SESSION CHARACTERISTICS)\b",
    re.IGNORECASE,
)
_SERVER = re.compile(r"((CREATE|DROP|ALTER) (DATABASE|TABLESPACE)|ALTER SYSTEM)\b", re.IGNORECASE)
_OUTSIDE = re.compile(
    r"(CREATE (UNIQUE )?INDEX CONCURRENTLY|DROP INDEX CONCURRENTLY|REINDEX\b.*\bCONCURRENTLY"
    r"|REINDEX (\(.*?\) )?(DATABASE|SYSTEM)|VACUUM|ALTER TABLE\b.*\bDETACH PARTITION\b.*\bCONCURRENTLY)\b",
    re.IGNORECASE,
)
_ADD_ENUM_VALUE = re.compile(r"ALTER TYPE\b.*\bADD VALUE\b", re.IGNORECASE)

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = rf"(?P<table>{_IDENT}(?:\.{_IDENT})?)"
_QUALIFIED = re.compile(rf"{_IDENT}(?:\.{_IDENT})?")
_TARGET = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?{_NAME}",
        rf"CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:(?:IF NOT EXISTS )?{_IDENT} )?ON (?:ONLY )?{_NAME}",
        rf"CREATE (?:(?:GLOBAL|LOCAL) )?(?:(?:TEMP|TEMPORARY|UNLOGGED) )?TABLE (?:IF NOT EXISTS )?{_NAME}",
        rf"DROP TABLE (?:IF EXISTS )?{_NAME}",
        rf"TRUNCATE (?:TABLE )?(?:ONLY )?{_NAME}",
        rf"INSERT INTO {_NAME}",
        rf"UPDATE (?:ONLY )?{_NAME}",
        rf"DELETE FROM (?:ONLY )?{_NAME}",
        rf"LOCK (?:TABLE )?(?:ONLY )?{_NAME}",
        rf"CLUSTER (?:VERBOSE )?{_NAME}",
        rf"REINDEX (?:\(.*?\) )?TABLE (?:CONCURRENTLY )?{_NAME}",
    )
]


@dataclass(frozen=True)
class ScratchTarget:
    """The disposable database a `--dsn` names, checked to be one the user explicitly chose."""

    conninfo: str
    dbname: str
    server: str  # host:port/dbname, without credentials, for messages

    def conninfo_for(self, dbname: str) -> str:
        """The same connection settings for another database on the same server."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.conninfo, dbname=dbname)


@dataclass(frozen=True)
class _Statement:
    file: str
    line: int
    sql: str  # the full text, never the document's preview
    indices: tuple[int, ...]  # the document entries (one per part) this SQL statement became
    table: str | None = None  # the table the loader says it names


class _Stop(Exception):
    """Ends one file's run with a problem; the following files are still verified."""

    def __init__(self, problem: InputProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _stop(statement: _Statement, message: str) -> _Stop:
    return _Stop(InputProblem(statement.file, statement.line, message))


def scratch_target(dsn: str, *, scratch: bool) -> ScratchTarget:
    """Check that `dsn` names a database the user marked disposable; raise ConfigError otherwise."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if not scratch:
        raise ConfigError(
            "migrate verify applies migrations to the database --dsn names; pass --scratch to confirm it is a disposable database"
        )
    try:
        params = conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        raise ConfigError(f"--dsn is not a PostgreSQL connection string: {_first_line(exc)}") from exc
    dbname = str(params.get("dbname") or "")
    if not dbname:
        raise ConfigError(
            "--dsn must name the scratch database explicitly (postgresql://user@host/DBNAME); the default database is never used"
        )
    if "=" in dbname or dbname.startswith(("postgres://", "postgresql://")):
        # libpq would read such a dbname as a whole connection string, naming some other database.
        raise ConfigError("--dsn: the database name may not itself be a connection string")
    if dbname in REFUSED_DATABASES:
        raise ConfigError(
            f"--dsn names database {dbname!r}, which is never disposable; create a scratch database (e.g. `createdb app_scratch`) and name it"
        )
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    return ScratchTarget(conninfo=dsn, dbname=dbname, server=f"{host}:{port}/{dbname}")


def verify(
    dsn: str,
    artifacts: Sequence[Artifact],
    *,
    scratch: bool,
    sources: Mapping[str, str] | None = None,
) -> tuple[list[Artifact], list[InputProblem]]:
    """Apply the migrations in order on the scratch database `dsn` names, never committing; return artifacts with observed facts.

    `sources` maps file names to their text: the documents keep only a preview of long statements.
    Migrations known to have run already (`pending: false`) only bring the database to the state the
    pending ones expect: they are applied first and not observed.
    """
    try:
        import psycopg  # noqa: F401  (an optional dependency: fail early, with the install hint)
    except ImportError as exc:
        raise ConfigError("migrate verify needs psycopg; install it with `pip install 'rollguard[postgres]'`") from exc
    target = scratch_target(dsn, scratch=scratch)
    verifier = _Verifier(target)
    verified: list[Artifact] = []
    problems: list[InputProblem] = []
    applied = [a for a in artifacts if a.kind == MIGRATION_KIND and a.document.get("pending") is False]
    try:
        if applied:
            try:
                verifier.apply_first(_setup(target, applied, sources))
            except _Stop as stop:
                # Without the applied migrations nothing pending can run as it will in production.
                problems.append(stop.problem)
                return list(artifacts), problems
        for artifact in artifacts:
            if artifact.kind != MIGRATION_KIND or artifact.document.get("pending") is False:
                verified.append(artifact)
                continue
            observed: dict[int, dict[str, Any]] = {}
            try:
                statements, cut = _statements(artifact, sources)
                verifier.apply_file(statements, observed, cut=cut)
            except _Stop as stop:
                problems.append(stop.problem)
                # The next file starts a fresh transaction that replays the files that succeeded.
                problems.extend(verifier.reset())
            verified.append(replace(artifact, document=_with_observed(artifact.document, observed)))
    finally:
        problems.extend(verifier.reset())
        problems.extend(verifier.drop_base())
    return verified, problems


class _Session(Protocol):
    """Where statements run: the scratch database's transaction, or a throw-away copy of it."""

    on_copy: bool

    def relations(self) -> frozenset[int]: ...

    def replay(self, statements: Sequence[_Statement]) -> None: ...

    def observe(self, statement: _Statement, baseline: frozenset[int], *, outside: bool) -> dict[str, Any]: ...

    def close(self) -> list[InputProblem]: ...


class _Verifier:
    """Applies the files of one change in order, keeping what was applied so a new session can catch up."""

    def __init__(self, target: ScratchTarget) -> None:
        self.target = target
        with self.connect(target.dbname, autocommit=True) as conn:
            self.version = int(conn.info.server_version)
        self.dbname = target.dbname  # where sessions run: the scratch database, or the base copy
        self.base: _CopySession | None = None  # the copy holding the migrations that ran already
        self.history: list[_Statement] = []  # statements of the files applied so far, in order
        self.session: _Session | None = None
        self.baseline: frozenset[int] | None = None  # user relations that existed before the change

    def connect(self, dbname: str, *, autocommit: bool) -> psycopg.Connection[Any]:
        """A connection to `dbname` on the target's server; an unreachable server is a one-line ConfigError."""
        import psycopg

        where = self.target.server.rsplit("/", 1)[0] + f"/{dbname}"
        try:
            return psycopg.connect(
                self.target.conninfo_for(dbname),
                autocommit=autocommit,
                connect_timeout=10,
                application_name=APPLICATION_NAME,
            )
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to PostgreSQL at {where}: {_first_line(exc)}") from exc

    def apply_file(
        self, statements: Sequence[_Statement], observed: dict[int, dict[str, Any]], *, cut: InputProblem | None = None
    ) -> None:
        """Run one file's statements, recording facts by document index; raise _Stop on the first failure,
        or with `cut` (the file ends in SQL that cannot be read) after the statements before it."""
        applied: list[_Statement] = []
        for statement in statements:
            category = classify(statement.sql, server_version=self.version)
            if category == "control":
                continue  # the scratch transaction is rollguard's: a migration's BEGIN/COMMIT must not touch it
            if category == "server":
                raise _stop(
                    statement,
                    "not verified: this statement acts on the whole server (databases, tablespaces, system "
                    "settings), which a scratch database cannot contain; verify the change without it",
                )
            outside = category == "outside"
            session = self._session_for(applied, outside=outside)
            assert self.baseline is not None
            # One run of the SQL statement: its facts go on its first entry only, so a statement the
            # loader split into several parts (one per ALTER TABLE action) is judged once.
            observed[statement.indices[0]] = session.observe(statement, self.baseline, outside=outside)
            applied.append(statement)
        if cut is not None:
            raise _Stop(cut)  # like a failed statement: later files do not build on half a file
        self.history.extend(applied)

    def apply_first(self, statements: Sequence[_Statement]) -> None:
        """Commit the statements of migrations that ran already to a copy of the scratch database, which
        every session then starts from; raise _Stop when one fails."""
        if not statements:
            return
        self.base = _CopySession(self, purpose="migrations that have run already are applied to a copy")
        try:
            self.base.replay(statements, already_applied=True)  # autocommit: committed there, locks released
        finally:
            self.base.disconnect()  # a database used as a template may have no session
        self.dbname = self.base.name

    def drop_base(self) -> list[InputProblem]:
        """Drop the base copy, if one was made."""
        base, self.base, self.dbname = self.base, None, self.target.dbname
        return base.close() if base is not None else []

    def reset(self) -> list[InputProblem]:
        """Throw the current session away (rolled back, or its copy dropped); the next one replays the history."""
        session, self.session = self.session, None
        return session.close() if session is not None else []

    def _session_for(self, applied: Sequence[_Statement], *, outside: bool) -> _Session:
        if self.session is not None and (self.session.on_copy or not outside):
            return self.session
        replay = [*self.history, *applied]
        # A scratch copy is made from the committed scratch database, which must have no session open.
        self.reset()
        needs_copy = outside or any(classify(s.sql, server_version=self.version) == "outside" for s in replay)
        self.session = _CopySession(self) if needs_copy else _ScratchSession(self)
        if self.baseline is None:
            self.baseline = self.session.relations()
        self.session.replay(replay)
        return self.session

    def failure(self, statement: _Statement, exc: Exception) -> _Stop:
        """The problem of a statement PostgreSQL refused, pointing at the line PostgreSQL points at."""
        line = statement.line
        position = getattr(getattr(exc, "diag", None), "statement_position", None)
        if isinstance(position, str) and position.isdigit():
            line += statement.sql[: int(position) - 1].count("\n")
        message = f"statement failed on {self.target.server}: {_pg_message(exc)}"
        return _Stop(InputProblem(statement.file, line, message))


class _ScratchSession:
    """One transaction on the scratch database; it is only ever rolled back."""

    on_copy = False

    def __init__(self, verifier: _Verifier) -> None:
        import psycopg

        self.verifier = verifier
        self.conn = verifier.connect(verifier.dbname, autocommit=False)
        try:
            for statement in _NEVER_COMMIT:
                self.conn.execute(statement)
        except psycopg.Error as exc:
            self.conn.close()
            raise ConfigError(
                f"cannot prepare the scratch database {verifier.target.server} (it needs the TEMPORARY privilege "
                f"and plpgsql): {_first_line(exc)}"
            ) from exc

    def relations(self) -> frozenset[int]:
        """Oids of the user relations the session sees."""
        return _user_relations(self.conn)

    def replay(self, statements: Sequence[_Statement]) -> None:
        """Bring the transaction to the state the next statement expects."""
        _replay(self.conn, statements, where="the scratch database")

    def observe(self, statement: _Statement, baseline: frozenset[int], *, outside: bool) -> dict[str, Any]:
        """Run a statement in the transaction and record what it did."""
        return _observe_in_transaction(self.verifier, self.conn, statement, baseline)

    def close(self) -> list[InputProblem]:
        """Roll back and disconnect."""
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()
        return []


class _CopySession:
    """A throw-away copy of the scratch database (`CREATE DATABASE ... TEMPLATE`) for statements that
    PostgreSQL refuses inside a transaction, or to hold the migrations that ran already; it is dropped
    when the session closes."""

    on_copy = True

    def __init__(
        self,
        verifier: _Verifier,
        *,
        purpose: str = "statements that cannot run inside a transaction run on a copy",
    ) -> None:
        import psycopg
        from psycopg import sql

        self.verifier = verifier
        self.name = COPY_PREFIX + secrets.token_hex(6)
        self.admin = self._maintenance()
        self.worker: psycopg.Connection[Any] | None = None
        self.monitor: psycopg.Connection[Any] | None = None
        self.created = False
        try:
            self.admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(self.name), sql.Identifier(verifier.dbname)
                )
            )
            self.created = True
            self.worker = verifier.connect(self.name, autocommit=True)
            self.monitor = verifier.connect(self.name, autocommit=True)
        except psycopg.Error as exc:
            problems = self.close()
            raise ConfigError(
                f"{purpose} of the scratch database, and making "
                f"one failed (it needs CREATEDB and no other session on {verifier.dbname}): {_first_line(exc)}"
                + "".join(f"; {p.message}" for p in problems)
            ) from exc
        except ConfigError:
            self.close()
            raise

    def _maintenance(self) -> psycopg.Connection[Any]:
        """An autocommit connection to another database of the server, to create and drop the copy."""
        failure: ConfigError | None = None
        for dbname in ("postgres", "template1"):
            try:
                return self.verifier.connect(dbname, autocommit=True)
            except ConfigError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def relations(self) -> frozenset[int]:
        """Oids of the user relations of the copy (the same as the scratch database's: the copy is file by file)."""
        assert self.worker is not None
        return _user_relations(self.worker)

    def replay(self, statements: Sequence[_Statement], *, already_applied: bool = False) -> None:
        """Replay the earlier statements one by one, outside a transaction, as the copy starts committed."""
        assert self.worker is not None
        _replay(self.worker, statements, where="the scratch copy", already_applied=already_applied)

    def observe(self, statement: _Statement, baseline: frozenset[int], *, outside: bool) -> dict[str, Any]:
        """Run a statement on the copy: sampled from another connection when it must run outside a transaction."""
        assert self.worker is not None and self.monitor is not None
        if not outside:
            # The copy is thrown away, so each statement commits there: a later statement that
            # must run outside a transaction then sees its effect.
            with self.worker.transaction():
                return _observe_in_transaction(self.verifier, self.worker, statement, baseline)
        return self._observe_outside(statement, baseline)

    def disconnect(self) -> None:
        """Close the worker and monitor connections; the copy stays until `close`."""
        for conn in (self.worker, self.monitor):
            if conn is not None:
                conn.close()

    def _observe_outside(self, statement: _Statement, baseline: frozenset[int]) -> dict[str, Any]:
        import psycopg

        assert self.worker is not None and self.monitor is not None
        existed = _table_existed(self.worker, statement, baseline)
        files_before = _table_files(self.worker, baseline)
        poller = _LockPoller(self.monitor, self.worker.info.backend_pid)
        poller.start()
        start = time.perf_counter()
        try:
            self.worker.execute(statement.sql)
        except psycopg.Error as exc:
            raise self.verifier.failure(statement, exc) from exc
        finally:
            ms = (time.perf_counter() - start) * 1000
            poller.finish()
        if poller.error is not None:
            raise _stop(statement, f"sampling the statement's locks failed: {_first_line(poller.error)}")
        locks = {lock for lock in poller.seen if lock[0] in baseline}
        rewrote = _rewritten(files_before, _table_files(self.worker, baseline))
        return _facts(locks, rewrote, ms, existed, outside=True)

    def close(self) -> list[InputProblem]:
        """Disconnect and drop the copy; a copy that cannot be dropped is reported, never left silently."""
        import psycopg
        from psycopg import sql

        for conn in (self.worker, self.monitor):
            if conn is not None:
                conn.close()
        problems: list[InputProblem] = []
        if self.created:
            force = sql.SQL(" WITH (FORCE)") if self.verifier.version >= 130000 else sql.SQL("")
            drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(self.name)) + force
            # Before PostgreSQL 13 there is no FORCE, and a just-closed session may still be leaving.
            for attempt in range(50):
                try:
                    self.admin.execute(drop)
                    break
                except psycopg.Error as exc:
                    if attempt == 49:
                        server = self.verifier.target.server.rsplit("/", 1)[0]
                        problems.append(
                            InputProblem(
                                self.name,
                                None,
                                f"could not drop the scratch copy on {server}; drop it by hand: {_first_line(exc)}",
                            )
                        )
                    time.sleep(0.1)
            self.created = False
        self.admin.close()
        return problems


def _replay(
    conn: psycopg.Connection[Any], statements: Sequence[_Statement], *, where: str, already_applied: bool = False
) -> None:
    import psycopg

    for statement in statements:
        try:
            conn.execute(statement.sql)
        except psycopg.Error as exc:
            if already_applied:
                raise _stop(
                    statement,
                    f"this migration has run already, and applying it to {where} before the pending ones failed: "
                    f"{_pg_message(exc)}; give a scratch database with the schema from before it, or one whose "
                    "migration history table records it",
                ) from exc
            raise _stop(
                statement, f"replaying this statement on {where} failed (it ran before): {_pg_message(exc)}"
            ) from exc


def _setup(target: ScratchTarget, applied: Sequence[Artifact], sources: Mapping[str, str] | None) -> list[_Statement]:
    """The statements of the migrations that ran already which the scratch database lacks, in order."""
    from rollguard.inputs.migration import migration_ref
    from rollguard.inputs.pending import decide, history_if_any

    # A scratch database restored from production records what it holds in the tool's own table.
    history = history_if_any(target.conninfo)
    present: set[str] = set()
    if history is not None:
        refs = [
            migration_ref(a.file, (sources or {}).get(a.file, ""), tool=str(a.document.get("tool") or "auto"))
            for a in applied
        ]
        states, _ = decide(history, refs)
        present = {a.file for a, state in zip(applied, states, strict=True) if state is False}
    statements: list[_Statement] = []
    for artifact in applied:
        if artifact.file in present:
            continue
        found, _ = _statements(artifact, sources)  # a cut short file is the loader's problem to report
        statements.extend(s for s in found if classify(s.sql, server_version=0) not in ("control", "server"))
    return statements


def _observe_in_transaction(
    verifier: _Verifier, conn: psycopg.Connection[Any], statement: _Statement, baseline: frozenset[int]
) -> dict[str, Any]:
    """Run one statement inside an open transaction and compare locks and files with before."""
    import psycopg

    existed = _table_existed(conn, statement, baseline)
    locks_before = _own_locks(conn, baseline)
    files_before = _table_files(conn, baseline)
    start = time.perf_counter()
    try:
        conn.execute(statement.sql)
    except psycopg.Error as exc:
        raise verifier.failure(statement, exc) from exc
    ms = (time.perf_counter() - start) * 1000
    # Only the locks this statement added: earlier ones stay held until the transaction ends.
    locks = _own_locks(conn, baseline) - locks_before
    return _facts(locks, _rewritten(files_before, _table_files(conn, baseline)), ms, existed, outside=False)


class _LockPoller(threading.Thread):
    """Samples the relation locks of one backend until told to finish."""

    def __init__(self, conn: psycopg.Connection[Any], pid: int) -> None:
        super().__init__(name="rollguard-lock-poller", daemon=True)
        self.conn = conn
        self.pid = pid
        self.seen: set[tuple[int, str, str]] = set()
        self.error: Exception | None = None
        self._done = threading.Event()

    def run(self) -> None:
        import psycopg

        try:
            while True:
                # Check the flag before sampling so that one last sample follows the request to finish.
                done = self._done.is_set()
                for oid, name, mode in self.conn.execute(_BACKEND_LOCKS, (self.pid,)).fetchall():
                    self.seen.add((int(oid), str(name), str(mode)))
                if done:
                    return
                time.sleep(POLL_SECONDS)
        except psycopg.Error as exc:
            self.error = exc

    def finish(self) -> None:
        """Stop sampling and wait for the thread."""
        self._done.set()
        self.join()


def classify(sql: str, *, server_version: int) -> Category:
    """Whether a statement runs in the scratch transaction, needs a copy, is skipped or is refused."""
    head = normalized(sql)
    if _CONTROL.match(head):
        return "control"
    if _SERVER.match(head):
        return "server"
    if _OUTSIDE.match(head):
        return "outside"
    # Before PostgreSQL 12, ALTER TYPE ... ADD VALUE could not run inside a transaction block.
    if server_version < 120000 and _ADD_ENUM_VALUE.match(head):
        return "outside"
    return "transactional"


def normalized(sql: str) -> str:
    """The statement without comments, string literals blanked, whitespace collapsed (for keyword matching)."""
    from rollguard.inputs.migration.lexer import sql_segments  # the loader's lexer: one reading of quotes and comments

    out: list[str] = []
    for kind, start, end in sql_segments(sql):
        if kind == "comment" or (kind == "unterminated" and sql.startswith("/*", start)):
            out.append(" ")
        elif kind in ("quoted", "unterminated") and sql[start] != '"':
            out.append("''")
        else:
            out.append(sql[start:end])
    return " ".join("".join(out).split())


def target_table(sql: str) -> str | None:
    """The table a statement names (`ALTER TABLE x`, `CREATE INDEX ... ON x`, ...), as written, or None."""
    head = normalized(sql)
    for pattern in _TARGET:
        match = pattern.match(head)
        if match:
            return match.group("table")
    return None


def _statements(artifact: Artifact, sources: Mapping[str, str] | None) -> tuple[list[_Statement], InputProblem | None]:
    """The SQL statements of a migration document, in order, with their full text; the statements up to
    one whose quote or comment never closes, and that problem."""
    from rollguard.inputs.migration.lexer import find_unterminated

    document = artifact.document
    if str(document.get("dialect") or "postgres") != "postgres":
        raise _Stop(InputProblem(artifact.file, None, "migrate verify runs PostgreSQL migrations only"))
    full = _full_texts(sources.get(artifact.file) if sources else None)
    statements: list[_Statement] = []
    for index, raw in enumerate(document.get("statements") or ()):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("sql"), str):
            continue
        line, table = raw.get("line"), raw.get("table")
        line = line if isinstance(line, int) else artifact.line
        table = table if isinstance(table, str) else None
        if raw.get("part") and statements and statements[-1].line == line:
            # One SQL statement with several actions is several entries (parts): run it once.
            last = statements[-1]
            statements[-1] = replace(last, indices=(*last.indices, index))
            continue
        preview = str(raw["sql"])
        sql = _take_full(full, line, preview)
        if sql is None:
            if len(preview) >= SQL_PREVIEW_LIMIT:
                raise _Stop(
                    InputProblem(
                        artifact.file,
                        line,
                        f"the document keeps only the first {SQL_PREVIEW_LIMIT} characters of this statement; "
                        "pass the file's text to verify it",
                    )
                )
            sql = preview
        open_quote = find_unterminated(sql)
        if open_quote is not None:
            # Its end is missing: PostgreSQL would read the rest of the file as part of it, or refuse it.
            return statements, InputProblem(artifact.file, line + open_quote.line - 1, open_quote.message())
        statements.append(_Statement(artifact.file, line, sql, (index,), table))
    return statements, None


def _full_texts(text: str | None) -> dict[int, list[str]]:
    """Statements of a file's text by their first line, split the way the loader splits them."""
    if text is None:
        return {}
    from rollguard.inputs.migration.lexer import split_statements

    pieces, _ = split_statements(text, dialect="postgres")
    by_line: dict[int, list[str]] = {}
    for line, sql in pieces:
        by_line.setdefault(line, []).append(sql)
    return by_line


def _take_full(full: dict[int, list[str]], line: int, preview: str) -> str | None:
    candidates = full.get(line, [])
    for i, sql in enumerate(candidates):
        if sql.startswith(preview):
            return candidates.pop(i)
    return None


def _user_relations(conn: psycopg.Connection[Any]) -> frozenset[int]:
    return frozenset(int(row[0]) for row in conn.execute(_USER_RELATIONS).fetchall())


def _table_files(conn: psycopg.Connection[Any], baseline: frozenset[int]) -> dict[int, tuple[str, int | None]]:
    rows = conn.execute(_TABLE_FILES).fetchall()
    return {int(oid): (str(name), node) for oid, name, node in rows if int(oid) in baseline}


def _own_locks(conn: psycopg.Connection[Any], baseline: frozenset[int]) -> set[tuple[int, str, str]]:
    rows = conn.execute(_OWN_LOCKS).fetchall()
    return {(int(oid), str(name), str(mode)) for oid, name, mode in rows if int(oid) in baseline}


def _rewritten(before: Mapping[int, tuple[str, int | None]], after: Mapping[int, tuple[str, int | None]]) -> list[str]:
    # A dropped table has no file afterwards; that is a drop, not a rewrite.
    return sorted(name for oid, (name, node) in before.items() if oid in after and after[oid][1] != node)


def _table_existed(conn: psycopg.Connection[Any], statement: _Statement, baseline: frozenset[int]) -> bool | None:
    """Whether the table the statement names existed before the change (None: it names no table)."""
    table = target_table(statement.sql)
    if table is None and statement.table:
        # The loader's names are already case-folded: quoting each part keeps them exact.
        table = ".".join('"' + part.replace('"', '""') + '"' for part in statement.table.split("."))
    # to_regclass raises on a malformed name, which would abort the transaction: check first.
    if table is None or not _QUALIFIED.fullmatch(table):
        return None
    row = conn.execute("SELECT to_regclass(%s)::oid", (table,)).fetchone()
    return row is not None and row[0] is not None and int(row[0]) in baseline


def _facts(
    locks: set[tuple[int, str, str]], rewrote: list[str], ms: float, existed: bool | None, *, outside: bool
) -> dict[str, Any]:
    return {
        "locks": [{"relation": name, "mode": mode} for name, mode in sorted({(n, m) for _, n, m in locks})],
        "rewrote": rewrote,
        "ms": round(ms, 2),
        "table_existed": existed,
        "outside_transaction": outside,
    }


def _with_observed(document: Mapping[str, Any], observed: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = copy.deepcopy(dict(document))
    statements = result.get("statements")
    if isinstance(statements, list):
        for index, facts in observed.items():
            statements[index] = {**statements[index], "observed": copy.deepcopy(facts)}
    return result


def _pg_message(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:
        return _first_line(exc)
    code = getattr(diag, "sqlstate", None)
    hint = getattr(diag, "message_hint", None)
    text = f"{primary} (SQLSTATE {code})" if code else str(primary)
    return f"{text}; hint: {hint}" if hint else text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
