"""A decision store in PostgreSQL, shared by many pipelines and webhook replicas.

Appends lock the single chain-head row (`SELECT ... FOR UPDATE`) so writers queue in the
database; migrations run under a transaction-scoped advisory lock so replicas starting
together do not race to create the schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rollguard.audit.record import GENESIS
from rollguard.audit.store import (
    DecisionStore,
    Head,
    Row,
    Transaction,
    insert_statement,
    insert_values,
    row_from,
    rows_query,
)
from rollguard.errors import StoreError

# pg_advisory_xact_lock key for schema migrations ("rollguard" as a number).
MIGRATION_LOCK = 0x726F6C6C

INSERT = insert_statement("%s")

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
)


class _PostgresTransaction(Transaction):
    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def head(self) -> Head:
        self.cur.execute("SELECT seq, hash FROM rollguard_chain_head WHERE id = 1 FOR UPDATE")
        seq, hash_ = self.cur.fetchone()
        return Head(int(seq), str(hash_))

    def insert(self, seq: int, prev_hash: str, hash_: str, body_text: str, columns: Mapping[str, Any]) -> None:
        self.cur.execute(INSERT, insert_values(seq, prev_hash, hash_, body_text, columns))

    def set_head(self, head: Head) -> None:
        self.cur.execute("UPDATE rollguard_chain_head SET seq = %s, hash = %s WHERE id = 1", (head.seq, head.hash))


class PostgresStore(DecisionStore):
    """A decision store in a PostgreSQL database (`postgresql://user@host:port/db`)."""

    def __init__(self, url: str) -> None:
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
            self._migrate()
        except psycopg.Error as exc:
            raise StoreError(f"decision store {_redact(url)}: {_first_line(exc)}") from exc

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Open the store a `postgresql://...` URL names."""
        return cls(url)

    def schema_version(self) -> int:
        """How many migrations this database has had."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT version FROM rollguard_schema")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur.execute("CREATE TABLE IF NOT EXISTS rollguard_schema (version INTEGER NOT NULL)")
            cur.execute("SELECT version FROM rollguard_schema")
            row = cur.fetchone()
            if row is None:
                cur.execute("INSERT INTO rollguard_schema (version) VALUES (0)")
            current = int(row[0]) if row else 0
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"decision store {_redact(self.url)} has schema version {current}, newer than this rollguard knows ({len(MIGRATIONS)}); upgrade rollguard"
                )
            for version in range(current, len(MIGRATIONS)):
                for statement in MIGRATIONS[version]:
                    cur.execute(statement)
                cur.execute("UPDATE rollguard_schema SET version = %s", (version + 1,))

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                yield _PostgresTransaction(cur)
        except self._psycopg.Error as exc:
            raise StoreError(f"decision store {_redact(self.url)}: append failed: {_first_line(exc)}") from exc

    def _rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]:
        query, params = rows_query("%s", since=since, until=until)
        try:
            with self.conn.transaction(), self.conn.cursor(name="rollguard_rows") as cur:
                cur.itersize = 500
                cur.execute(query, params)
                for values in cur:
                    yield row_from(values)
        except self._psycopg.Error as exc:
            raise StoreError(f"decision store {_redact(self.url)}: {_first_line(exc)}") from exc

    def _stored_head(self) -> Head:
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute("SELECT seq, hash FROM rollguard_chain_head WHERE id = 1")
                row = cur.fetchone()
        except self._psycopg.Error as exc:
            raise StoreError(f"decision store {_redact(self.url)}: {_first_line(exc)}") from exc
        if row is None:
            raise StoreError(f"decision store {_redact(self.url)}: the chain head is missing")
        return Head(int(row[0]), str(row[1]))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
