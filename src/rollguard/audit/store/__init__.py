"""The decision store: one append-only, hash-chained log of decisions behind one interface.

Backends (one module each, registered by URL scheme in `STORES`) differ only in how they talk
to their database; the chain is built and checked here. Appends are serialised by the database
(SQLite `BEGIN IMMEDIATE`, a row lock on PostgreSQL's chain head), and the new record and the
new head are written in one transaction, so concurrent writers never fork the chain and a
crash leaves either both or neither.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

from rollguard.audit.record import (
    GENESIS,
    StoredRecord,
    canonical_json,
    chain_hash,
    chain_hash_text,
    format_time,
    is_record_time,
)
from rollguard.audit.store.sql import DECISIONS_TABLE, HEAD_TABLE, INDEXED, LOG_TABLES, Row
from rollguard.errors import ConfigError, StoreError

DEFAULT_STORE = "sqlite:///.rollguard/decisions.db"

_HASH = re.compile(r"[0-9a-f]{64}")


class NoDecisionLog(StoreError):
    """There is no decision log at the store URL: missing, empty, or without rollguard's tables.

    `audit verify` reports it as a failed verification (exit 1): a wiped log is not an intact one.
    `absent` says there is simply nothing there yet (no file, a database without rollguard's
    tables), as opposed to something that is not, or is no longer, a log.
    """

    def __init__(self, message: str, *, absent: bool = False) -> None:
        super().__init__(message)
        self.absent = absent


@dataclass(frozen=True)
class Head:
    """A link of the chain: the newest one (seq 0 and the genesis hash for an empty store), or any other."""

    seq: int
    hash: str

    def to_json(self) -> dict[str, Any]:
        """`{"seq": ..., "hash": ...}`."""
        return {"seq": self.seq, "hash": self.hash}


GENESIS_HEAD = Head(0, GENESIS)


@dataclass(frozen=True)
class Anchor:
    """What an earlier, independently kept copy of the head says the chain must still hold."""

    head: str | None = None  # a record hash that must be in the chain
    count: int | None = None  # the chain must hold at least this many records

    @classmethod
    def parse(cls, *, head: str | None, count: int | None) -> Anchor:
        """`--expect-head` and `--expect-count`; a head that is not a full SHA-256 hex digest is a ConfigError."""
        if head is not None:
            text = head.strip().lower()
            if not _HASH.fullmatch(text):
                raise ConfigError(
                    f"--expect-head {head!r} is not a record hash: give all 64 hex digits that "
                    "`rollguard check --record` printed as the chain head"
                )
            head = text
        if count is not None and count < 0:
            raise ConfigError(f"--expect-count {count} is negative")
        return cls(head=head, count=count)


def check_schema(
    where: str, *, version: int, known: int, tables: frozenset[str], bare_is_new: bool, write: bool
) -> bool:
    """Whether the store at `where` is a new one to create; raise when it is no log this rollguard can use.

    `version` is its schema version (0 when it has none) and `tables` which of rollguard's
    tables it holds. A store with no trace of rollguard is a log not yet started when
    `bare_is_new` (a PostgreSQL database), else something else (an existing file); only a writer
    starts one. A log whose tables were dropped is never started afresh.
    """
    if version > known:
        raise StoreError(
            f"decision store {where} has schema version {version}, newer than this rollguard knows ({known}); upgrade rollguard"
        )
    present = tables & LOG_TABLES
    if version == 0 and not present:
        if bare_is_new and write:
            return True
        if bare_is_new:
            raise NoDecisionLog(f"no decision log here: {where} has no rollguard tables", absent=True)
        raise NoDecisionLog(
            f"no decision log here: {where} is not a rollguard decision log (it has none of its tables)"
        )
    if not present:
        raise NoDecisionLog(
            f"no decision log here: {where} was a decision log (schema version {version}) but its tables were dropped;"
            " restore it from a backup and check it with `rollguard audit verify --expect-head`"
        )
    if version == 0:
        raise StoreError(
            f"decision store {where} holds rollguard's tables but no schema version; restore it from a backup"
        )
    if write and present != LOG_TABLES:
        raise StoreError(
            f"decision store {where}: table {', '.join(sorted(LOG_TABLES - present))} is missing; "
            "check the log with `rollguard audit verify`"
        )
    return False


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain: how far it holds and where it first breaks."""

    records: int
    head: Head | None  # the stored head; None when it is missing
    last_intact: Head | None = None  # the last record that checked out (seq 0: none did)
    broken_at: int | None = None  # the first record that does not hold, when one record is to blame
    problem: str | None = None

    @classmethod
    def no_log(cls, message: str) -> ChainReport:
        """The report on a store that holds no decision log at all."""
        return cls(records=0, head=None, problem=message)

    @property
    def ok(self) -> bool:
        """Whether every link, the head and the anchor check out."""
        return self.problem is None

    def describe(self) -> str:
        """One line, as `rollguard audit verify` prints it."""
        if self.ok and self.head is not None:
            return f"chain intact: {self.records} records, head {self.head.seq} {self.head.hash}"
        if self.head is None and self.last_intact is None:
            return str(self.problem)
        where = f" at record {self.broken_at}" if self.broken_at is not None else ""
        return f"chain BROKEN{where}: {self.problem}"

    def to_json(self) -> dict[str, Any]:
        """The `audit verify --format json` document."""
        return {
            "ok": self.ok,
            "records": self.records,
            "head": self.head.to_json() if self.head is not None else None,
            "last_intact": self.last_intact.to_json() if self.last_intact is not None else None,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


class Transaction(abc.ABC):
    """What a backend offers inside one serialised write transaction."""

    @abc.abstractmethod
    def head(self) -> Head:
        """The chain head, locked against other writers until the transaction ends."""

    @abc.abstractmethod
    def last_recorded_at(self) -> str | None:
        """The `recorded_at` of the head record, as the last append noted it (None before any)."""

    @abc.abstractmethod
    def now(self) -> dt.datetime:
        """The store's clock: the database server's where there is one, else this machine's."""

    @abc.abstractmethod
    def insert(self, seq: int, prev_hash: str, hash_: str, body_text: str, columns: Mapping[str, Any]) -> None:
        """Add one record row."""

    @abc.abstractmethod
    def set_head(self, head: Head, recorded_at: str) -> None:
        """Move the chain head to the record just inserted."""


class DecisionStore(abc.ABC):
    """An append-only log of decision records; subclasses bind it to one database."""

    url: str
    # The clock `recorded_at` is read from; None for the backend's own (tests set a fixed one).
    clock: Callable[[], dt.datetime] | None = None

    @abc.abstractmethod
    def _write(self) -> AbstractContextManager[Transaction]:
        """A serialised write transaction: committed on normal exit, rolled back on error."""

    @abc.abstractmethod
    def _rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]:
        """Record rows in chain order, optionally only those with since <= time < until."""

    @abc.abstractmethod
    def _tables(self) -> frozenset[str]:
        """Which of rollguard's tables the database holds now."""

    @abc.abstractmethod
    def _stored_head(self) -> Head | None:
        """The head as recorded by the last append; None when its row or table is missing."""

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
        """Add `bodies` in order, in one transaction (a busy webhook writes in batches).

        The store stamps each record with `recorded_at`, its own clock at the append and never
        earlier than the record before; a `recorded_at` in a body is replaced.
        """
        # Serialised before the transaction, so a NaN or non-JSON value fails before anything is
        # written and the write lock is not held while large bodies are encoded. `recorded_at`
        # is known only under the lock: a random placeholder stands in for it until then.
        placeholder = secrets.token_hex(16)
        prepared = []
        for body in bodies:
            content = {**body, "recorded_at": placeholder}
            prepared.append((canonical_json(content), content))
        stored: list[StoredRecord] = []
        with self._write() as tx:
            head = tx.head()
            recorded_at = self._stamp(tx)
            stamp = canonical_json(recorded_at)
            for text, content in prepared:
                text = text.replace(f'"{placeholder}"', stamp, 1)
                content["recorded_at"] = recorded_at
                seq = head.seq + 1
                digest = chain_hash_text(seq, head.hash, text)
                tx.insert(seq, head.hash, digest, text, {key: content.get(key) for key in INDEXED})
                stored.append(StoredRecord(seq=seq, prev_hash=head.hash, hash=digest, body=content))
                head = Head(seq, digest)
            if stored:
                tx.set_head(head, recorded_at)
        return stored

    def _stamp(self, tx: Transaction) -> str:
        """`recorded_at` for an append: the clock, but never before the record it follows.

        A clock stepped back (NTP, a replica on another host) must not make a true log fail
        `verify`, which checks that `recorded_at` never goes backwards along the chain.
        """
        now = format_time(self.clock() if self.clock is not None else tx.now())
        last = tx.last_recorded_at()
        return last if last is not None and is_record_time(last) and last > now else now

    def records(
        self, *, since: dt.datetime | None = None, until: dt.datetime | None = None, environment: str | None = None
    ) -> Iterator[StoredRecord]:
        """Records with `since <= time < until` (UTC), in chain order, optionally for one environment."""
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
        """The chain head as recorded by the last append; a StoreError when it is missing."""
        head = self._stored_head()
        if head is None:
            raise StoreError(f"decision store {self.url}: the chain head is missing; run `rollguard audit verify`")
        return head

    def verify(self, anchor: Anchor | None = None) -> ChainReport:
        """Walk the whole chain; report the first record, head or anchor that does not hold.

        Each record's link, hash and indexed columns are checked, and that `recorded_at` never
        goes backwards. With an `anchor`, the chain must also still hold a head kept elsewhere
        and at least as many records as it had then.
        """
        anchor = anchor or Anchor()
        tables = self._tables()
        stored = self._stored_head() if HEAD_TABLE in tables else None
        if DECISIONS_TABLE not in tables:
            says = f"; the chain head says {stored.seq} records" if stored is not None else ""
            return ChainReport(
                records=0,
                head=stored,
                last_intact=GENESIS_HEAD,
                broken_at=1,
                problem=f"the table of records ({DECISIONS_TABLE}) is missing{says}",
            )
        walk = _Walk(anchor)
        for row in self._rows():
            broken = walk.step(row)
            if broken is not None:
                return ChainReport(
                    records=walk.count, head=stored, last_intact=walk.last, broken_at=row.seq, problem=broken
                )
        last = walk.last
        if stored is None:
            gone = "its table was dropped" if HEAD_TABLE not in tables else "its row was deleted"
            return ChainReport(
                records=walk.count,
                head=None,
                last_intact=last,
                problem=(
                    f"the chain head is missing ({gone}): the chain reads intact up to record {last.seq} "
                    f"({last.hash}), but nothing vouches that no records followed it"
                ),
            )
        if stored != last:
            return ChainReport(
                records=walk.count,
                head=stored,
                last_intact=last,
                broken_at=last.seq + 1,
                problem=(
                    f"the store's head is record {stored.seq} ({stored.hash[:12]}) but the chain ends at record "
                    f"{last.seq} ({last.hash[:12]}): records after {last.seq} were removed, or the head was changed"
                ),
            )
        return ChainReport(records=walk.count, head=stored, last_intact=last, problem=walk.anchor_problem())


class _Walk:
    """The state of one pass along the chain: the last good link, the last `recorded_at`, the anchor."""

    def __init__(self, anchor: Anchor) -> None:
        self.anchor = anchor
        self.count = 0
        self.last = GENESIS_HEAD
        self.recorded: tuple[int, str] | None = None  # (seq, recorded_at) of the last record that had one
        self.anchor_seq: int | None = 0 if anchor.head == GENESIS else None

    def step(self, row: Row) -> str | None:
        """Check `row` as the next record; why it cannot follow, or None when it can."""
        self.count += 1
        expected = self.last
        if row.seq != expected.seq + 1:
            return (
                f"record {row.seq} follows record {expected.seq}: records {expected.seq + 1}..{row.seq - 1} are missing"
            )
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
                return f"record {row.seq}: column {key!r} says {row.columns.get(key)!r} but the record says {body.get(key)!r}"
        problem = self._check_time(row.seq, body.get("recorded_at"))
        if problem is not None:
            return problem
        self.last = Head(row.seq, row.hash)
        if row.hash == self.anchor.head:
            self.anchor_seq = row.seq
        return None

    def _check_time(self, seq: int, recorded_at: object) -> str | None:
        if recorded_at is None:
            if self.recorded is not None:
                # Every append since the store learnt `recorded_at` sets it (older rollguards
                # cannot write to a migrated store): a record without one after it was rewritten.
                return f"record {seq} has no recorded_at, but record {self.recorded[0]} before it has one"
            return None
        if not isinstance(recorded_at, str) or not is_record_time(recorded_at):
            return f"record {seq}: recorded_at {recorded_at!r} is not a UTC time as the store writes it"
        if self.recorded is not None and recorded_at < self.recorded[1]:
            before, when = self.recorded
            return (
                f"record {seq} was recorded at {recorded_at}, before record {before} ({when}): "
                "recorded_at never goes backwards in a log written by rollguard"
            )
        self.recorded = (seq, recorded_at)
        return None

    def anchor_problem(self) -> str | None:
        """Why the walked chain does not hold the anchor, or None when it does."""
        found = f"the chain holds {self.count} records and ends at record {self.last.seq} ({self.last.hash})"
        if self.anchor.head is not None and self.anchor_seq is None:
            return (
                f"expected head {self.anchor.head} (--expect-head) is not in the chain: {found}; "
                "records were removed or the chain was rewritten since that head was kept"
            )
        if self.anchor.count is not None and self.count < self.anchor.count:
            return (
                f"expected at least {self.anchor.count} records (--expect-count), but {found}; "
                "records were removed since that count was kept"
            )
        return None


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise StoreError("a stored record is not a JSON object")
    return value


class StoreOpener(Protocol):
    """Opens the store one URL names, to append (`create`) or only to read."""

    def __call__(self, url: str, *, create: bool) -> DecisionStore: ...


def _open_sqlite(url: str, *, create: bool) -> DecisionStore:
    from rollguard.audit.store.sqlite import SqliteStore

    return SqliteStore.from_url(url, create=create)


def _open_postgres(url: str, *, create: bool) -> DecisionStore:
    from rollguard.audit.store.postgres import PostgresStore

    return PostgresStore.from_url(url, create=create)


# URL scheme -> backend; `--store` accepts exactly these.
STORES: dict[str, StoreOpener] = {
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}


_SECRET_PARAMETERS = ("password", "sslpassword")


def redact_url(url: str) -> str:
    """`url` with any password (in the user part or the query) replaced by `***`."""
    # Edited as text: urllib would rewrite `sqlite:///x.db` as `sqlite:/x.db`.
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # The last `@` before the query ends the user part, even when an unescaped password holds
    # a `/` or `@`: better to hide too much than to print a secret.
    query_at = rest.find("?")
    at = rest.rfind("@", 0, query_at if query_at >= 0 else len(rest))
    if at >= 0 and not rest.startswith("/"):
        userinfo, tail = rest[:at], rest[at:]
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        rest = userinfo + tail
    path, question, query = rest.partition("?")
    if question:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_PARAMETERS for k, _ in pairs):
            query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMETERS else v) for k, v in pairs], safe="*/")
    return f"{scheme}{sep}{path}{question}{query}"


def open_store(url: str, *, create: bool = True) -> DecisionStore:
    """Open the store at `url` to append (`create`: make a new one, migrate an old one) or only to read.

    Readers never write: a missing, empty or table-less store raises NoDecisionLog. Writers
    create a store only where there is none; an existing file or database that is not a
    decision log (an emptied file, dropped tables) raises NoDecisionLog too. A URL whose scheme
    is not in `STORES` is a StoreError, never a guess.
    """
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in STORES:
        known = ", ".join(f"{s}://" for s in STORES)
        raise StoreError(f"--store {redact_url(url)!r}: unknown store URL (use one of {known}, e.g. {DEFAULT_STORE})")
    return STORES[scheme](url, create=create)


__all__ = [
    "DECISIONS_TABLE",
    "DEFAULT_STORE",
    "GENESIS_HEAD",
    "HEAD_TABLE",
    "INDEXED",
    "LOG_TABLES",
    "STORES",
    "Anchor",
    "ChainReport",
    "DecisionStore",
    "Head",
    "NoDecisionLog",
    "Row",
    "StoreError",
    "StoreOpener",
    "Transaction",
    "check_schema",
    "open_store",
]
