"""The default decision store: one SQLite file, written in WAL mode with `BEGIN IMMEDIATE`."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rollguard.audit.record import GENESIS
from rollguard.audit.store import DecisionStore, Head, NoDecisionLog, Transaction, check_schema
from rollguard.audit.store.sql import (
    HEAD_QUERY,
    HEAD_TABLE,
    LAST_RECORDED_AT_QUERY,
    LOG_TABLES,
    Row,
    insert_statement,
    insert_values,
    row_from,
    rows_query,
    set_head_statement,
)
from rollguard.errors import StoreError

INSERT = insert_statement("?")
SET_HEAD = set_head_statement("?")

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
    (
        # Records carry the store's `recorded_at`; the head keeps the newest so the next append
        # never stamps an earlier one. The version bump also keeps older rollguards, which
        # would append records without it, from writing to this store.
        "ALTER TABLE rollguard_chain_head ADD COLUMN recorded_at TEXT",
    ),
)


class _SqliteTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection, where: Path) -> None:
        self.conn = conn
        self.where = where

    def head(self) -> Head:
        row = self.conn.execute(HEAD_QUERY).fetchone()
        if row is None:
            raise StoreError(
                f"decision store {self.where}: the chain head is missing; check the log with `rollguard audit verify`"
            )
        return Head(int(row[0]), str(row[1]))

    def last_recorded_at(self) -> str | None:
        row = self.conn.execute(LAST_RECORDED_AT_QUERY).fetchone()
        return str(row[0]) if row is not None and row[0] is not None else None

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def insert(self, seq: int, prev_hash: str, hash_: str, body_text: str, columns: Mapping[str, Any]) -> None:
        self.conn.execute(INSERT, insert_values(seq, prev_hash, hash_, body_text, columns))

    def set_head(self, head: Head, recorded_at: str) -> None:
        self.conn.execute(SET_HEAD, (head.seq, head.hash, recorded_at))


class SqliteStore(DecisionStore):
    """A decision store in one SQLite file (`sqlite:///relative/path` or `sqlite:////absolute/path`)."""

    def __init__(self, path: Path, *, url: str, create: bool = True) -> None:
        self.url = url
        self.path = path
        if not path.exists():
            if not create:
                raise NoDecisionLog(
                    f"no decision log here: {path} does not exist; record decisions first "
                    f"(`rollguard check --record --store {url}`) or pass the right --store",
                    absent=True,
                )
            _create(path)
        elif path.is_file() and path.stat().st_size == 0:
            raise NoDecisionLog(f"no decision log here: {path} is empty (0 bytes); a decision log is never empty")
        try:
            if create:
                # Autocommit mode: transactions are opened explicitly, IMMEDIATE so writers queue.
                self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
                self.conn.execute("PRAGMA synchronous=FULL")
            else:
                # Readers cannot write, so `audit verify` never creates or migrates what it checks.
                uri = path.absolute().as_uri() + "?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"decision store {path}: {exc}; is it a rollguard decision store?") from exc
        try:
            self._open(create=create)
        except BaseException:
            self.conn.close()
            raise

    def _open(self, *, create: bool) -> None:
        try:
            if not create:
                check_schema(
                    str(self.path),
                    version=self.schema_version(),
                    known=len(MIGRATIONS),
                    tables=self._tables(),
                    bare_is_new=False,
                    write=False,
                )
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self._migrate()
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"decision store {self.path}: {exc}; is it a rollguard decision store?") from exc

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

    def _tables(self) -> frozenset[str]:
        try:
            rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"decision store {self.path}: {exc}") from exc
        return frozenset(str(name) for (name,) in rows) & LOG_TABLES

    def _migrate(self) -> None:
        """Bring an existing log up to date, inside the caller's write transaction."""
        current = self.schema_version()
        # A log file appears only fully migrated (see _create): one without rollguard's tables is not one.
        tables = self._tables()
        check_schema(
            str(self.path), version=current, known=len(MIGRATIONS), tables=tables, bare_is_new=False, write=True
        )
        _apply(self.conn, current)

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"decision store {self.path}: cannot start a write: {exc}") from exc
        try:
            yield _SqliteTransaction(self.conn, self.path)
        except sqlite3.Error as exc:
            self.conn.execute("ROLLBACK")
            raise StoreError(f"decision store {self.path}: append failed: {exc}") from exc
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

    def _stored_head(self) -> Head | None:
        if HEAD_TABLE not in self._tables():
            return None
        try:
            row = self.conn.execute(HEAD_QUERY).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"decision store {self.path}: {exc}") from exc
        return Head(int(row[0]), str(row[1])) if row is not None else None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _apply(conn: sqlite3.Connection, current: int) -> None:
    """Run the migrations after version `current`."""
    for version in range(current, len(MIGRATIONS)):
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version + 1}")


def _create(path: Path) -> None:
    """Make a new, fully migrated log at `path`, unless another writer makes one there first.

    The log is built beside `path` and linked into place in one step, so no reader or writer
    ever sees a half-made file there: every file at a log's path is a complete log, and one
    that is not (emptied, say) is refused instead of being started afresh.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
        try:
            conn = sqlite3.connect(draft, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                _apply(conn, 0)
                conn.execute("COMMIT")
            finally:
                conn.close()  # the last connection checkpoints and removes the -wal and -shm files
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another writer made the log first: use theirs
            except OSError:
                # A file system without hard links: a rename cannot refuse an existing file,
                # so check first (a writer racing in between is the rare loser).
                if not path.exists():
                    os.replace(draft, path)
        finally:
            for leftover in (draft, draft.with_name(draft.name + "-wal"), draft.with_name(draft.name + "-shm")):
                leftover.unlink(missing_ok=True)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"decision store {path}: cannot create it: {exc}") from exc
