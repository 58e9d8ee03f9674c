"""The default decision store: one SQLite file, written in WAL mode with `BEGIN IMMEDIATE`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
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

INSERT = insert_statement("?")

# Versioned schema migrations, applied in order on open; never edit one that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE rollguard_decisions (
            seq INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            source TEXT NOT NULL,
            environment TEXT,
            verdict TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX rollguard_decisions_time ON rollguard_decisions (time)",
        "CREATE TABLE rollguard_chain_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL)",
        f"INSERT INTO rollguard_chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",
    ),
    (
        # Stop accidental edits; deliberate ones (dropping the triggers) are what the chain catches.
        """CREATE TRIGGER rollguard_decisions_no_update BEFORE UPDATE ON rollguard_decisions
           BEGIN SELECT RAISE(ABORT, 'rollguard decision records are append-only'); END""",
        """CREATE TRIGGER rollguard_decisions_no_delete BEFORE DELETE ON rollguard_decisions
           BEGIN SELECT RAISE(ABORT, 'rollguard decision records are append-only'); END""",
        "CREATE INDEX rollguard_decisions_environment ON rollguard_decisions (environment, time)",
    ),
)


class _SqliteTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def head(self) -> Head:
        seq, hash_ = self.conn.execute("SELECT seq, hash FROM rollguard_chain_head WHERE id = 1").fetchone()
        return Head(int(seq), str(hash_))

    def insert(self, seq: int, prev_hash: str, hash_: str, body_text: str, columns: Mapping[str, Any]) -> None:
        self.conn.execute(INSERT, insert_values(seq, prev_hash, hash_, body_text, columns))

    def set_head(self, head: Head) -> None:
        self.conn.execute("UPDATE rollguard_chain_head SET seq = ?, hash = ? WHERE id = 1", (head.seq, head.hash))


class SqliteStore(DecisionStore):
    """A decision store in one SQLite file (`sqlite:///relative/path` or `sqlite:////absolute/path`)."""

    def __init__(self, path: Path, *, url: str, create: bool = True) -> None:
        self.url = url
        self.path = path
        if not create and not path.exists():
            raise StoreError(
                f"no decision store at {path}; record decisions first (`rollguard check --record --store {url}`) or pass the right --store"
            )
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are opened explicitly, IMMEDIATE so writers queue.
            self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"decision store {path}: {exc}; is it a rollguard decision store?") from exc

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> SqliteStore:
        """Open the store a `sqlite:///...` URL names."""
        rest = url.removeprefix("sqlite://")
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"--store {url!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return cls(Path(rest[1:]), url=url, create=create)

    def schema_version(self) -> int:
        """How many migrations this file has had."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            current = self.schema_version()
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"decision store {self.path} has schema version {current}, newer than this rollguard knows ({len(MIGRATIONS)}); upgrade rollguard"
                )
            for version in range(current, len(MIGRATIONS)):
                for statement in MIGRATIONS[version]:
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {version + 1}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"decision store {self.path}: cannot start a write: {exc}") from exc
        try:
            yield _SqliteTransaction(self.conn)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"decision store {self.path}: commit failed: {exc}") from exc

    def _rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]:
        query, params = rows_query("?", since=since, until=until)
        try:
            cursor = self.conn.execute(query, params)
            for values in cursor:
                yield row_from(values)
        except sqlite3.Error as exc:
            raise StoreError(f"decision store {self.path}: {exc}") from exc

    def _stored_head(self) -> Head:
        try:
            seq, hash_ = self.conn.execute("SELECT seq, hash FROM rollguard_chain_head WHERE id = 1").fetchone()
        except (sqlite3.Error, TypeError) as exc:
            raise StoreError(f"decision store {self.path}: the chain head is missing: {exc}") from exc
        return Head(int(seq), str(hash_))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
