"""The decision store: one append-only, hash-chained log of decisions behind one interface.

Backends differ only in how they talk to their database; the chain is built and checked here.
Appends are serialised by the database (SQLite `BEGIN IMMEDIATE`, a row lock on PostgreSQL's
chain head), and the new record and the new head are written in one transaction, so
concurrent writers never fork the chain and a crash leaves either both or neither.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from rollguard.audit.record import GENESIS, StoredRecord, canonical_json, chain_hash, chain_hash_text
from rollguard.errors import StoreError

DEFAULT_STORE = "sqlite:///.rollguard/decisions.db"

# Columns kept beside the JSON body so reports can select by time and environment; `verify`
# checks they agree with the body, so editing them to hide a record is caught too.
INDEXED = ("time", "source", "environment", "verdict")


@dataclass(frozen=True)
class Head:
    """The newest link of the chain (seq 0 and the genesis hash for an empty store)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Row:
    """A record as read back from the database, before it is checked."""

    seq: int
    prev_hash: str
    hash: str
    body_text: str
    columns: Mapping[str, Any]


def rows_query(placeholder: str, *, since: str | None, until: str | None) -> tuple[str, list[str]]:
    """The SELECT of record rows in chain order, in a backend's parameter style (`?` or `%s`)."""
    query = "SELECT seq, prev_hash, hash, body, time, source, environment, verdict FROM rollguard_decisions"
    clauses, params = [], []
    if since is not None:
        clauses.append(f"time >= {placeholder}")
        params.append(since)
    if until is not None:
        clauses.append(f"time < {placeholder}")
        params.append(until)
    if clauses:
        query += " WHERE " + " AND ".join(clauses)
    return query + " ORDER BY seq", params


def insert_statement(placeholder: str) -> str:
    """The INSERT of one record row, in a backend's parameter style."""
    marks = ", ".join([placeholder] * 8)
    return (
        "INSERT INTO rollguard_decisions (seq, time, source, environment, verdict, prev_hash, hash, body)"
        f" VALUES ({marks})"
    )


def insert_values(seq: int, prev_hash: str, hash_: str, body_text: str, columns: Mapping[str, Any]) -> tuple[Any, ...]:
    """The values for `insert_statement`, in its column order."""
    return (
        seq,
        columns["time"],
        columns["source"],
        columns["environment"],
        columns["verdict"],
        prev_hash,
        hash_,
        body_text,
    )


def row_from(values: Sequence[Any]) -> Row:
    """A Row from the columns `rows_query` selects."""
    seq, prev, hash_, body, time, source, env, verdict = values
    return Row(
        int(seq),
        str(prev),
        str(hash_),
        str(body),
        {"time": time, "source": source, "environment": env, "verdict": verdict},
    )


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain: how far it holds and where it first breaks."""

    records: int
    head: Head
    broken_at: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every link and the head check out."""
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        """The `audit verify --format json` document."""
        return {
            "ok": self.ok,
            "records": self.records,
            "head": {"seq": self.head.seq, "hash": self.head.hash},
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


class Transaction(abc.ABC):
    """What a backend offers inside one serialised write transaction."""

    @abc.abstractmethod
    def head(self) -> Head:
        """The chain head, locked against other writers until the transaction ends."""

    @abc.abstractmethod
    def insert(self, seq: int, prev_hash: str, hash_: str, body_text: str, columns: Mapping[str, Any]) -> None:
        """Add one record row."""

    @abc.abstractmethod
    def set_head(self, head: Head) -> None:
        """Move the chain head to the record just inserted."""


class DecisionStore(abc.ABC):
    """An append-only log of decision records; subclasses bind it to one database."""

    url: str

    @abc.abstractmethod
    def _write(self) -> AbstractContextManager[Transaction]:
        """A serialised write transaction: committed on normal exit, rolled back on error."""

    @abc.abstractmethod
    def _rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]:
        """Record rows in chain order, optionally only those with since <= time < until."""

    @abc.abstractmethod
    def _stored_head(self) -> Head:
        """The head as recorded by the last append."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, body: Mapping[str, Any]) -> StoredRecord:
        """Add `body` as the next record of the chain and return it with its hashes."""
        return self.append_many([body])[0]

    def append_many(self, bodies: Sequence[Mapping[str, Any]]) -> list[StoredRecord]:
        """Add `bodies` in order, in one transaction (a busy webhook writes in batches)."""
        # Serialised before the transaction: a NaN or non-JSON value fails before anything is written.
        prepared = [(canonical_json(body), body) for body in bodies]
        stored: list[StoredRecord] = []
        with self._write() as tx:
            head = tx.head()
            for text, content in prepared:
                seq = head.seq + 1
                digest = chain_hash_text(seq, head.hash, text)
                tx.insert(seq, head.hash, digest, text, {key: content.get(key) for key in INDEXED})
                stored.append(StoredRecord(seq=seq, prev_hash=head.hash, hash=digest, body=content))
                head = Head(seq, digest)
            if stored:
                tx.set_head(head)
        return stored

    def records(
        self, *, since: dt.datetime | None = None, until: dt.datetime | None = None, environment: str | None = None
    ) -> Iterator[StoredRecord]:
        """Records with `since <= time < until` (UTC), in chain order, optionally for one environment."""
        from rollguard.audit.record import format_time

        rows = self._rows(
            since=format_time(since) if since else None,
            until=format_time(until) if until else None,
        )
        for row in rows:
            record = StoredRecord(seq=row.seq, prev_hash=row.prev_hash, hash=row.hash, body=_loads(row.body_text))
            if environment is None or record.environment == environment:
                yield record

    def passed(self, environment: str) -> Iterator[StoredRecord]:
        """Records of decisions that let a change into `environment`: verdict pass, not a dry run."""
        for record in self.records(environment=environment):
            if record.verdict == "pass" and record.body.get("dry_run") is not True:
                yield record

    def head(self) -> Head:
        """The chain head as recorded by the last append."""
        return self._stored_head()

    def verify(self) -> ChainReport:
        """Walk the whole chain; report the first record whose link, hash or columns do not hold."""
        expected = Head(0, GENESIS)
        count = 0
        for row in self._rows():
            count += 1
            problem = _check_row(row, expected)
            if problem is not None:
                return ChainReport(records=count, head=self._stored_head(), broken_at=row.seq, problem=problem)
            expected = Head(row.seq, row.hash)
        stored = self._stored_head()
        if stored != expected:
            problem = (
                f"the store's head is record {stored.seq} ({stored.hash[:12]}) but the chain ends at record "
                f"{expected.seq} ({expected.hash[:12]}): records after {expected.seq} were removed, or the head was changed"
            )
            return ChainReport(records=count, head=stored, broken_at=expected.seq + 1, problem=problem)
        return ChainReport(records=count, head=stored)


def _loads(text: str) -> dict[str, Any]:
    import json

    value = json.loads(text)
    if not isinstance(value, dict):
        raise StoreError("a stored record is not a JSON object")
    return value


def _check_row(row: Row, expected: Head) -> str | None:
    """Why `row` cannot follow `expected` in the chain, or None when it can."""
    if row.seq != expected.seq + 1:
        return f"record {row.seq} follows record {expected.seq}: records {expected.seq + 1}..{row.seq - 1} are missing"
    if row.prev_hash != expected.hash:
        return f"record {row.seq} links to {row.prev_hash[:12]} but record {expected.seq} has hash {expected.hash[:12]}"
    try:
        body = _loads(row.body_text)
    except (ValueError, StoreError):
        return f"record {row.seq} is not valid JSON"
    if chain_hash(row.seq, row.prev_hash, body) != row.hash:
        return f"record {row.seq} does not match its hash: its content was changed after it was written"
    for key in INDEXED:
        if row.columns.get(key) != body.get(key):
            return (
                f"record {row.seq}: column {key!r} says {row.columns.get(key)!r} but the record says {body.get(key)!r}"
            )
    return None


Opener = Callable[[str], DecisionStore]


def _open_sqlite(url: str) -> DecisionStore:
    from rollguard.audit.sqlite_store import SqliteStore

    return SqliteStore.from_url(url)


def _open_postgres(url: str) -> DecisionStore:
    from rollguard.audit.postgres_store import PostgresStore

    return PostgresStore.from_url(url)


# URL scheme -> backend; `--store` accepts exactly these.
STORES: dict[str, Opener] = {
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}


def open_store(url: str, *, create: bool = True) -> DecisionStore:
    """Open (and with `create`, make and migrate) the store at `url`."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in STORES:
        known = ", ".join(f"{s}://" for s in STORES)
        raise StoreError(f"--store {url!r}: unknown store URL (use one of {known}, e.g. {DEFAULT_STORE})")
    store = STORES[scheme](url) if create else _open_existing(scheme, url)
    return store


def _open_existing(scheme: str, url: str) -> DecisionStore:
    if scheme == "sqlite":
        from rollguard.audit.sqlite_store import SqliteStore

        return SqliteStore.from_url(url, create=False)
    return STORES[scheme](url)
