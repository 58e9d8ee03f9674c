"""A decision store in PostgreSQL, shared by many pipelines and webhook replicas.

Appends lock the single chain-head row (`SELECT ... FOR UPDATE`) so writers queue in the
database; migrations run under a transaction-scoped advisory lock so replicas starting
together do not race to create the schema.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rollguard.audit.record import GENESIS
from rollguard.audit.store import DecisionStore, Head, NoDecisionLog, Transaction, check_schema, redact_url
from rollguard.audit.store.sql import (
    DECISIONS_TABLE,
    HEAD_QUERY,
    HEAD_TABLE,
    LAST_RECORDED_AT_QUERY,
    Row,
    insert_statement,
    insert_values,
    row_from,
    rows_query,
    set_head_statement,
)
from rollguard.errors import StoreError

# pg_advisory_xact_lock key for schema migrations ("rollguard" as a number).
MIGRATION_LOCK = 0x726F6C6C

INSERT = insert_statement("%s")
SET_HEAD = set_head_statement("%s")
_MISSING_DATABASE = re.compile(r'database "[^"]*" does not exist')

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE rollguard_decisions (
            seq BIGINT PRIMARY KEY,
            time TEXT NOT NULL,
            source TEXT NOT NULL,
            environment TEXT,
            verdict TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX rollguard_decisions_time ON rollguard_decisions (time)",
        "CREATE TABLE rollguard_chain_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)",
        f"INSERT INTO rollguard_chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",
    ),
    (
        """CREATE FUNCTION rollguard_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'rollguard decision records are append-only'; END $$""",
        """CREATE TRIGGER rollguard_decisions_append_only BEFORE UPDATE OR DELETE ON rollguard_decisions
           FOR EACH ROW EXECUTE FUNCTION rollguard_append_only()""",
        "CREATE INDEX rollguard_decisions_environment ON rollguard_decisions (environment, time)",
    ),
    (
        # Records carry the store's `recorded_at`; the head keeps the newest so the next append
        # never stamps an earlier one. The version bump also keeps older rollguards, which
        # would append records without it, from writing to this store.
        "ALTER TABLE rollguard_chain_head ADD COLUMN recorded_at TEXT",
    ),
)


class _PostgresTransaction(Transaction):
    def __init__(self, cur: Any, where: str) -> None:
        self.cur = cur
        self.where = where

    def head(self) -> Head:
        self.cur.execute(HEAD_QUERY + " FOR UPDATE")
        row = self.cur.fetchone()
        if row is None:
            raise StoreError(
                f"decision store {self.where}: the chain head is missing; check the log with `rollguard audit verify`"
            )
        return Head(int(row[0]), str(row[1]))

    def last_recorded_at(self) -> str | None:
        self.cur.execute(LAST_RECORDED_AT_QUERY)
        row = self.cur.fetchone()
        return str(row[0]) if row is not None and row[0] is not None else None

    def now(self) -> dt.datetime:
        # The database's clock, read under the head's lock: one clock for every writer.
        self.cur.execute("SELECT clock_timestamp()")
        value = self.cur.fetchone()[0]
        assert isinstance(value, dt.datetime)
        return value

    def insert(self, seq: int, prev_hash: str, hash_: str, body_text: str, columns: Mapping[str, Any]) -> None:
        self.cur.execute(INSERT, insert_values(seq, prev_hash, hash_, body_text, columns))

    def set_head(self, head: Head, recorded_at: str) -> None:
        self.cur.execute(SET_HEAD, (head.seq, head.hash, recorded_at))


class PostgresStore(DecisionStore):
    """A decision store in a PostgreSQL database (`postgresql://user@host:port/db`)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError(
                "--store postgresql:// needs psycopg; install it with `pip install 'rollguard[postgres]'`"
            ) from exc
        self.url = url
        self._psycopg = psycopg
        try:
            # Autocommit: every read and write runs in an explicit `transaction()` block.
            self.conn = psycopg.connect(
                url.replace("postgres://", "postgresql://", 1), connect_timeout=10, autocommit=True
            )
        except psycopg.Error as exc:
            # libpq reports a missing database only in its message (no SQLSTATE before a session exists).
            missing = _MISSING_DATABASE.search(str(exc))
            if missing:
                raise NoDecisionLog(
                    f"no decision log here: {missing.group(0)} ({redact_url(url)})", absent=True
                ) from exc
            raise StoreError(f"decision store {redact_url(url)}: {_first_line(exc)}") from exc
        try:
            if create:
                self._migrate()
            else:
                # Readers cannot write, so `audit verify` never creates or migrates what it checks.
                self.conn.read_only = True
                check_schema(
                    redact_url(url),
                    version=self.schema_version(),
                    known=len(MIGRATIONS),
                    tables=self._tables(),
                    bare_is_new=True,
                    write=False,
                )
        except psycopg.Error as exc:
            self.conn.close()
            raise StoreError(f"decision store {redact_url(url)}: {_first_line(exc)}") from exc
        except BaseException:
            self.conn.close()
            raise

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> PostgresStore:
        """Open the store a `postgresql://...` URL names."""
        return cls(url, create=create)

    def schema_version(self) -> int:
        """How many migrations this database has had (0 without rollguard's schema table)."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            return _schema_version(cur)

    def _tables(self) -> frozenset[str]:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                return _tables(cur)
        except self._psycopg.Error as exc:
            raise StoreError(f"decision store {redact_url(self.url)}: {_first_line(exc)}") from exc

    def _migrate(self) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            current = _schema_version(cur)
            tables = _tables(cur)
            # A database without any rollguard table is a new log; one whose tables were dropped is not.
            check_schema(
                redact_url(self.url),
                version=current,
                known=len(MIGRATIONS),
                tables=tables,
                bare_is_new=True,
                write=True,
            )
            cur.execute("CREATE TABLE IF NOT EXISTS rollguard_schema (version INTEGER NOT NULL)")
            cur.execute("SELECT version FROM rollguard_schema")
            if cur.fetchone() is None:
                cur.execute("INSERT INTO rollguard_schema (version) VALUES (0)")
            for version in range(current, len(MIGRATIONS)):
                for statement in MIGRATIONS[version]:
                    cur.execute(statement)
                cur.execute("UPDATE rollguard_schema SET version = %s", (version + 1,))

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                yield _PostgresTransaction(cur, redact_url(self.url))
        except self._psycopg.Error as exc:
            raise StoreError(f"decision store {redact_url(self.url)}: append failed: {_first_line(exc)}") from exc

    def _rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]:
        query, params = rows_query("%s", since=since, until=until)
        try:
            with self.conn.transaction(), self.conn.cursor(name="rollguard_rows") as cur:
                cur.itersize = 500
                cur.execute(query, params)
                for values in cur:
                    yield row_from(values)
        except self._psycopg.Error as exc:
            raise StoreError(f"decision store {redact_url(self.url)}: {_first_line(exc)}") from exc

    def _stored_head(self) -> Head | None:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                if HEAD_TABLE not in _tables(cur):
                    return None
                cur.execute(HEAD_QUERY)
                row = cur.fetchone()
        except self._psycopg.Error as exc:
            raise StoreError(f"decision store {redact_url(self.url)}: {_first_line(exc)}") from exc
        return Head(int(row[0]), str(row[1])) if row is not None else None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _tables(cur: Any) -> frozenset[str]:
    """Which of rollguard's log tables the database holds (by the connection's search path)."""
    cur.execute(
        "SELECT to_regclass('rollguard_decisions') IS NOT NULL, to_regclass('rollguard_chain_head') IS NOT NULL"
    )
    decisions, head = cur.fetchone()
    return frozenset(name for name, present in ((DECISIONS_TABLE, decisions), (HEAD_TABLE, head)) if present)


def _schema_version(cur: Any) -> int:
    cur.execute("SELECT to_regclass('rollguard_schema') IS NOT NULL")
    if not cur.fetchone()[0]:
        return 0
    cur.execute("SELECT version FROM rollguard_schema")
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
