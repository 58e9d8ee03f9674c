"""The decision store on SQLite and on a real PostgreSQL: chain, migrations, concurrency, tampering."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rollguard.audit import postgres_store, sqlite_store
from rollguard.audit.record import GENESIS
from rollguard.audit.store import DecisionStore, open_store
from rollguard.errors import StoreError


def body(n: int, *, environment: str | None = "prod", verdict: str = "pass", day: int = 1) -> dict[str, Any]:
    return {
        "schema": 1,
        "time": f"2026-11-{day:02d}T12:00:{n % 60:02d}.000000Z",
        "source": "ci",
        "environment": environment,
        "verdict": verdict,
        "findings": [{"policy": "k8s.readiness_probe", "message": f"finding {n}"}],
        "note": "café ✓",  # non-ASCII must hash the same on every backend
    }


def fill(store: DecisionStore, count: int) -> None:
    for n in range(1, count + 1):
        store.append(body(n, day=n))


def raw(url: str, *statements: str) -> None:
    """Run SQL behind rollguard's back, as someone with write access to the database could."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for s in statements:
            conn.execute(s)
        conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def drop_guards(url: str) -> str:
    if url.startswith("sqlite"):
        return "DROP TRIGGER rollguard_decisions_no_update; DROP TRIGGER rollguard_decisions_no_delete"
    return "DROP TRIGGER rollguard_decisions_append_only ON rollguard_decisions"


def tamper(url: str, *statements: str) -> None:
    raw(url, *drop_guards(url).split("; "), *statements)


def test_append_links_each_record_to_the_one_before(store_url: str) -> None:
    with open_store(store_url) as store:
        first = store.append(body(1))
        second = store.append(body(2))
        assert (first.seq, second.seq) == (1, 2)
        assert first.prev_hash == GENESIS and second.prev_hash == first.hash
        # The documented hash: SHA-256 over the canonical JSON of {seq, prev, record}.
        canonical = json.dumps(
            {"seq": 2, "prev": first.hash, "record": body(2)}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert second.hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        assert store.head().seq == 2 and store.head().hash == second.hash
        report = store.verify()
        assert report.ok and report.records == 2 and report.head.hash == second.hash


def test_records_are_read_back_by_period_and_environment(store_url: str) -> None:
    import datetime as dt

    with open_store(store_url) as store:
        fill(store, 5)
        store.append(body(6, environment="staging", day=3))
        utc = dt.timezone.utc
        window = list(
            store.records(since=dt.datetime(2026, 11, 2, tzinfo=utc), until=dt.datetime(2026, 11, 4, tzinfo=utc))
        )
        assert [r.seq for r in window] == [2, 3, 6]
        assert [r.seq for r in store.records(environment="staging")] == [6]
        assert next(iter(store.records())).body == body(1)


def test_a_store_survives_reopening(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, 3)
    with open_store(store_url) as store:
        assert store.append(body(4)).seq == 4
        assert store.verify().ok


def test_records_are_append_only_in_the_database(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, 2)
    errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)
    if store_url.startswith("postgresql"):
        import psycopg

        errors = (psycopg.Error,)
    with pytest.raises(errors, match="append-only"):
        raw(store_url, "UPDATE rollguard_decisions SET verdict = 'pass' WHERE seq = 1")
    with pytest.raises(errors, match="append-only"):
        raw(store_url, "DELETE FROM rollguard_decisions WHERE seq = 2")


@pytest.mark.parametrize(
    ("statements", "broken_at", "problem"),
    [
        (
            ["UPDATE rollguard_decisions SET body = replace(body, 'finding 2', 'nothing') WHERE seq = 2"],
            2,
            "content was changed",
        ),
        (["UPDATE rollguard_decisions SET environment = 'dev' WHERE seq = 3"], 3, "column 'environment'"),
        (["DELETE FROM rollguard_decisions WHERE seq = 2"], 3, "records 2..2 are missing"),
        (["DELETE FROM rollguard_decisions WHERE seq = 4"], 4, "records after 3 were removed"),
        (
            [
                "UPDATE rollguard_decisions SET seq = 0 WHERE seq = 2",
                "UPDATE rollguard_decisions SET seq = 2 WHERE seq = 3",
                "UPDATE rollguard_decisions SET seq = 3 WHERE seq = 0",
            ],
            2,
            "links to",
        ),
        (
            # Rewriting a record and its own hash still breaks the next record's link.
            ["UPDATE rollguard_decisions SET hash = 'f' || substr(hash, 2) WHERE seq = 1"],
            1,
            "does not match its hash",
        ),
    ],
    ids=["edit-body", "edit-column", "delete-middle", "delete-last", "reorder", "rewrite-hash"],
)
def test_tampering_is_detected_at_the_first_broken_record(
    store_url: str, statements: list[str], broken_at: int, problem: str
) -> None:
    with open_store(store_url) as store:
        fill(store, 4)
        assert store.verify().ok
    tamper(store_url, *statements)
    with open_store(store_url) as store:
        report = store.verify()
    assert not report.ok
    assert report.broken_at == broken_at
    assert problem in (report.problem or "")


APPEND_SCRIPT = """
import sys
from rollguard.audit.store import open_store
url, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open_store(url) as store:
    for n in range(count):
        store.append({"time": "2026-11-26T12:00:00.000000Z", "source": "ci", "environment": writer,
                      "verdict": "pass", "n": n, "padding": "x" * 4000})
"""


def test_concurrent_writers_keep_one_unbroken_chain(store_url: str) -> None:
    with open_store(store_url):
        pass  # create and migrate once, so the writers race on appends only
    writers, each = 6, 25
    procs = [
        subprocess.Popen([sys.executable, "-c", APPEND_SCRIPT, store_url, f"w{i}", str(each)]) for i in range(writers)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * writers
    with open_store(store_url) as store:
        report = store.verify()
        records = list(store.records())
    assert report.ok, report.problem
    assert report.records == writers * each == len(records)
    assert [r.seq for r in records] == list(range(1, writers * each + 1))
    per_writer = {f"w{i}": sorted(r.body["n"] for r in records if r.environment == f"w{i}") for i in range(writers)}
    assert all(ns == list(range(each)) for ns in per_writer.values())


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", APPEND_SCRIPT, store_url, f"w{i}", "3"]) for i in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    with open_store(store_url) as store:
        assert store.verify().ok and store.verify().records == 12


def test_a_writer_killed_mid_append_leaves_a_valid_chain(store_url: str) -> None:
    with open_store(store_url):
        pass
    proc = subprocess.Popen([sys.executable, "-c", APPEND_SCRIPT, store_url, "w", "100000"])
    try:
        deadline = time.monotonic() + 60
        with open_store(store_url) as store:
            while store.head().seq < 30 and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with open_store(store_url) as store:
        report = store.verify()
        assert report.ok, report.problem
        assert report.records == report.head.seq >= 30
        assert store.append(body(1)).seq == report.head.seq + 1  # and the next writer carries on


def test_migrations_are_versioned_and_applied_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in sqlite_store.MIGRATIONS[0]:  # a store written by a release with one migration
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with open_store(f"sqlite:///{path}") as store:
        assert isinstance(store, sqlite_store.SqliteStore)
        assert store.schema_version() == len(sqlite_store.MIGRATIONS) == 2
        store.append(body(1))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw(f"sqlite:///{path}", "DELETE FROM rollguard_decisions")  # the second migration's guard is in place
    raw(f"sqlite:///{path}", "PRAGMA user_version = 9")
    with pytest.raises(StoreError, match="schema version 9, newer than this rollguard knows"):
        open_store(f"sqlite:///{path}")


def test_postgres_migrations_are_versioned(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        assert isinstance(store, postgres_store.PostgresStore)
        assert store.schema_version() == len(postgres_store.MIGRATIONS)
    raw(postgres_url, "UPDATE rollguard_schema SET version = 9")
    with pytest.raises(StoreError, match="schema version 9"):
        open_store(postgres_url)


def test_bad_stores_are_named_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no decision store at"):
        open_store(f"sqlite:///{tmp_path / 'absent.db'}", create=False)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=f"decision store {corrupt}: file is not a database"):
        open_store(f"sqlite:///{corrupt}")
    with pytest.raises(StoreError, match="unknown store URL"):
        open_store("mysql://db/decisions")
    with pytest.raises(StoreError, match="sqlite:///relative/path.db"):
        open_store("sqlite://decisions.db")


def test_an_unreachable_database_is_a_store_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match=rf"decision store postgresql://rollguard:\*\*\*@127.0.0.1:{port}/x: "):
        open_store(f"postgresql://rollguard:secret@127.0.0.1:{port}/x")
