"""The decision store on SQLite and on a real PostgreSQL: chain, migrations, concurrency, tampering."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import inspect
import json
import pkgutil
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rollguard.audit.record import GENESIS, canonical_json, chain_hash
from rollguard.audit.store import STORES, Anchor, DecisionStore, NoDecisionLog, open_store, postgres, sqlite
from rollguard.errors import ConfigError, StoreError

from .tampering import drop_guards, log_tables, raw, rewrite, sql, tamper


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


def test_append_links_each_record_to_the_one_before(store_url: str) -> None:
    with open_store(store_url) as store:
        first = store.append(body(1))
        second = store.append(body(2))
        assert (first.seq, second.seq) == (1, 2)
        assert first.prev_hash == GENESIS and second.prev_hash == first.hash
        # The store adds the time it wrote the record, inside what is hashed.
        assert second.body == {**body(2), "recorded_at": second.recorded_at}
        assert first.recorded_at is not None and second.recorded_at is not None
        assert first.recorded_at <= second.recorded_at
        # The documented hash: SHA-256 over the canonical JSON of {seq, prev, record}.
        canonical = json.dumps(
            {"seq": 2, "prev": first.hash, "record": {**body(2), "recorded_at": second.recorded_at}},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
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
        first = next(iter(store.records()))
        assert first.body == {**body(1), "recorded_at": first.recorded_at}


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
            [
                "UPDATE rollguard_decisions SET hash = "
                "CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END || substr(hash, 2) WHERE seq = 1"
            ],
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
    for statement in sqlite.MIGRATIONS[0]:  # a store written by a release with one migration
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with open_store(f"sqlite:///{path}") as store:
        assert isinstance(store, sqlite.SqliteStore)
        assert store.schema_version() == len(sqlite.MIGRATIONS) == 3
        store.append(body(1))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw(f"sqlite:///{path}", "DELETE FROM rollguard_decisions")  # the second migration's guard is in place
    raw(f"sqlite:///{path}", "PRAGMA user_version = 9")
    with pytest.raises(StoreError, match="schema version 9, newer than this rollguard knows"):
        open_store(f"sqlite:///{path}")


def test_postgres_migrations_are_versioned(postgres_url: str) -> None:
    with open_store(postgres_url) as store:
        assert isinstance(store, postgres.PostgresStore)
        assert store.schema_version() == len(postgres.MIGRATIONS)
    raw(postgres_url, "UPDATE rollguard_schema SET version = 9")
    with pytest.raises(StoreError, match="schema version 9"):
        open_store(postgres_url)


def test_bad_stores_are_named_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(NoDecisionLog, match="no decision log here: .* does not exist"):
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


# --- the registry: every URL scheme opens its backend, and every backend has a scheme ---------


def _postgres_as(scheme: str) -> Callable[[pytest.FixtureRequest, Path], str]:
    def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
        return scheme + "://" + str(request.getfixturevalue("postgres_url")).partition("://")[2]

    return url


# Scheme -> the backend it must open and a URL of that scheme for a new, empty store.
SCHEMES: dict[str, tuple[type[DecisionStore], Callable[[pytest.FixtureRequest, Path], str]]] = {
    "sqlite": (sqlite.SqliteStore, lambda request, tmp_path: f"sqlite:///{tmp_path / 'decisions.db'}"),
    "postgresql": (postgres.PostgresStore, _postgres_as("postgresql")),
    "postgres": (postgres.PostgresStore, _postgres_as("postgres")),
}


def test_every_scheme_has_a_backend_here() -> None:
    assert set(SCHEMES) == set(STORES)


def test_every_backend_has_a_scheme() -> None:
    import rollguard.audit.store as package

    backends = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        backends |= {
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, DecisionStore) and cls.__module__ == module.__name__ and not inspect.isabstract(cls)
        }
    assert backends == {backend for backend, _ in SCHEMES.values()}


@pytest.mark.parametrize("scheme", sorted(STORES))
def test_every_scheme_opens_a_store_of_its_backend(scheme: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    backend, example = SCHEMES[scheme]
    url = example(request, tmp_path)
    assert url.startswith(f"{scheme}://")
    with open_store(url) as store:
        assert type(store) is backend and store.url == url
        fill(store, 2)
    with open_store(url, create=False) as store:  # and readers open it through the same registry
        assert type(store) is backend
        assert store.verify().ok and [r.seq for r in store.records()] == [1, 2]


@pytest.mark.parametrize(
    "url", ["mysql://db/decisions", "SQLite:///decisions.db", "sqlite:decisions.db", "decisions.db", ""]
)
@pytest.mark.parametrize("create", [True, False])
def test_a_url_of_no_registered_scheme_is_refused(
    url: str, create: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    known = ", ".join(f"{scheme}://" for scheme in STORES)
    with pytest.raises(StoreError, match=re.escape(f"--store {url!r}: unknown store URL (use one of {known}, e.g. ")):
        open_store(url, create=create)
    assert list(tmp_path.iterdir()) == []  # nothing was created, under any name


@pytest.mark.parametrize("url", ["mysql://db/decisions", "sqlite:decisions.db"])
def test_promotion_history_reads_through_the_registry(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rollguard.governance.history import read_history

    monkeypatch.chdir(tmp_path)
    history = read_history(url, environment="prod", previous="staging")
    assert history.error is not None and "unknown store URL" in history.error
    assert list(tmp_path.iterdir()) == []


# --- a wiped, emptied or headless store is never an intact one --------------------------------


def test_a_truncated_file_is_no_log_and_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "decisions.db"
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        fill(store, 3)
    path.write_bytes(b"")  # truncated to 0 bytes
    for create in (False, True):  # neither a reader nor a writer starts a log afresh there
        with pytest.raises(NoDecisionLog, match=r"no decision log here: .*decisions.db is empty \(0 bytes\)") as caught:
            open_store(url, create=create)
        assert not caught.value.absent
    assert path.read_bytes() == b""


def test_a_file_that_is_not_a_log_is_refused_to_writers_too(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    before = other.read_bytes()
    for create in (False, True):
        with pytest.raises(NoDecisionLog, match="is not a rollguard decision log"):
            open_store(f"sqlite:///{other}", create=create)
    assert other.read_bytes() == before


def test_dropped_tables_are_no_log_and_are_not_recreated(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, 3)
    sql(store_url, "DROP TABLE rollguard_decisions")
    sql(store_url, "DROP TABLE rollguard_chain_head")
    for create in (False, True):
        with pytest.raises(NoDecisionLog, match=r"schema version 3\) but its tables were dropped"):
            open_store(store_url, create=create)
    assert log_tables(store_url) <= {"rollguard_schema"}


def test_a_fresh_store_is_created_only_by_writers(store_url: str) -> None:
    with pytest.raises(NoDecisionLog, match="no decision log here") as caught:
        open_store(store_url, create=False)
    assert caught.value.absent  # nothing there yet, rather than something wiped
    if store_url.startswith("sqlite"):
        path = Path(store_url.removeprefix("sqlite:///"))
        assert not path.exists()
        with open_store(store_url) as store:
            assert store.append(body(1)).seq == 1
        assert [p.name for p in path.parent.iterdir() if not p.name.startswith(path.name + "-")] == [path.name]
    else:
        assert log_tables(store_url) == set()
        with open_store(store_url) as store:
            assert store.append(body(1)).seq == 1
    with open_store(store_url, create=False) as store:
        assert store.verify().ok


def test_a_missing_postgres_database_is_no_log(postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/rollguard_no_such_database"
    with pytest.raises(NoDecisionLog, match="no decision log here: .*does not exist") as caught:
        open_store(missing, create=False)
    assert caught.value.absent


def test_readers_never_migrate_an_older_store(store_url: str) -> None:
    old_store(store_url, [body(1), body(2)], version=2)
    with open_store(store_url, create=False) as store:
        assert store.verify().ok and store.verify().records == 2
    assert schema_version(store_url) == 2


@pytest.mark.parametrize(
    ("statement", "gone"),
    [
        ("DELETE FROM rollguard_chain_head", "its row was deleted"),
        ("DROP TABLE rollguard_chain_head", "its table was dropped"),
    ],
    ids=["row", "table"],
)
def test_a_missing_head_is_reported_with_the_last_intact_record(store_url: str, statement: str, gone: str) -> None:
    with open_store(store_url) as store:
        fill(store, 3)
        last = store.head()
    sql(store_url, statement)
    with open_store(store_url, create=False) as store:
        report = store.verify()
    assert not report.ok and report.head is None and report.records == 3
    assert report.last_intact == last and report.broken_at is None
    assert f"the chain head is missing ({gone}): the chain reads intact up to record 3 ({last.hash})" in (
        report.problem or ""
    )
    assert report.to_json()["head"] is None and report.to_json()["last_intact"] == {"seq": 3, "hash": last.hash}
    if statement.startswith("DELETE"):
        with open_store(store_url) as store, pytest.raises(StoreError, match="the chain head is missing"):
            store.append(body(4))
    else:
        with pytest.raises(StoreError, match="table rollguard_chain_head is missing"):
            open_store(store_url)


def test_a_dropped_records_table_under_a_head_is_reported(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, 3)
    sql(store_url, "DROP TABLE rollguard_decisions")
    with open_store(store_url, create=False) as store:
        report = store.verify()
    assert not report.ok and report.broken_at == 1
    assert report.problem == "the table of records (rollguard_decisions) is missing; the chain head says 3 records"


# --- anchoring: a head kept elsewhere catches a rewritten or cut-back chain --------------------


def test_an_anchor_passes_on_the_chain_it_was_taken_from(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, 2)
        kept = store.head()
        fill(store, 2)  # the log grew since the head was kept
        head = store.head()
        assert store.verify(Anchor(head=kept.hash, count=kept.seq)).ok
        assert store.verify(Anchor(head=head.hash, count=4)).ok
        assert store.verify(Anchor(head=GENESIS, count=0)).ok


def test_a_rehashed_chain_verifies_but_not_against_its_anchor(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, 4)
        kept = store.head()

    def hide_the_finding(seq: int, content: dict[str, Any]) -> dict[str, Any]:
        return {**content, "findings": []} if seq == 2 else content

    rewrite(store_url, hide_the_finding)
    with open_store(store_url, create=False) as store:
        assert store.verify().ok  # undetectable from inside, by design
        report = store.verify(Anchor(head=kept.hash))
        now = store.head()
    assert not report.ok and report.broken_at is None
    assert report.problem == (
        f"expected head {kept.hash} (--expect-head) is not in the chain: the chain holds 4 records and ends at "
        f"record 4 ({now.hash}); records were removed or the chain was rewritten since that head was kept"
    )


def test_an_older_head_fails_the_anchor_and_the_count(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, 4)
        kept = store.head()
    raw(store_url, *drop_guards(store_url).split("; "))
    second = sql(store_url, "SELECT hash FROM rollguard_decisions WHERE seq = 2")[0][0]
    sql(store_url, "DELETE FROM rollguard_decisions WHERE seq > 2")
    sql(store_url, "UPDATE rollguard_chain_head SET seq = 2, hash = ? WHERE id = 1", (second,))
    with open_store(store_url, create=False) as store:
        assert store.verify().ok  # the newest records dropped and the head moved back
        by_head = store.verify(Anchor(head=kept.hash))
        by_count = store.verify(Anchor(count=4))
        assert store.verify(Anchor(head=second, count=2)).ok
    assert not by_head.ok and f"expected head {kept.hash} (--expect-head) is not in the chain" in (
        by_head.problem or ""
    )
    assert f"ends at record 2 ({second})" in (by_head.problem or "")
    assert by_count.problem == (
        f"expected at least 4 records (--expect-count), but the chain holds 2 records and ends at record 2 "
        f"({second}); records were removed since that count was kept"
    )


@pytest.mark.parametrize("text", ["abc", "g" * 64, "0" * 63, "recorded decision 3"])
def test_an_expected_head_must_be_a_whole_hash(text: str) -> None:
    with pytest.raises(ConfigError, match=f"--expect-head {text!r} is not a record hash: give all 64 hex digits"):
        Anchor.parse(head=text, count=None)
    assert Anchor.parse(head=" " + "AB" * 32 + "\n", count=3) == Anchor(head="ab" * 32, count=3)


# --- recorded_at: the store's own time, never going backwards -----------------------------------


def fixed_clock(*times: str) -> Any:
    """A store clock that returns `times` one after the other."""
    moments = iter(dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times)
    return lambda: next(moments)


def test_the_store_sets_recorded_at_and_never_lets_it_go_backwards(store_url: str) -> None:
    with open_store(store_url) as store:
        store.clock = fixed_clock("2026-11-26T12:00:00Z", "2026-11-26T11:00:00Z", "2026-11-26T13:00:00Z")
        first = store.append({**body(1), "recorded_at": "1999-01-01T00:00:00.000000Z"})  # a caller cannot set it
        stepped_back = store.append(body(2))  # the clock went back an hour
        later = store.append(body(3))
        assert first.recorded_at == "2026-11-26T12:00:00.000000Z"
        assert stepped_back.recorded_at == first.recorded_at
        assert later.recorded_at == "2026-11-26T13:00:00.000000Z"
        # `time` stays the decision's own (as-of) time, whatever the store's clock says.
        assert [r.time for r in store.records()] == [body(n)["time"] for n in (1, 2, 3)]
        assert store.verify().ok


def test_the_store_clock_is_the_real_one_by_default(store_url: str) -> None:
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)  # PostgreSQL's clock is the server's
    with open_store(store_url) as store:
        stored = store.append(body(1))
    assert stored.recorded_at is not None
    assert dt.datetime.fromisoformat(stored.recorded_at.replace("Z", "+00:00")) > before


def test_verify_catches_recorded_at_going_backwards_even_with_the_hashes_recomputed(store_url: str) -> None:
    with open_store(store_url) as store:
        store.clock = fixed_clock(*(f"2026-11-26T12:0{n}:00Z" for n in range(1, 5)))
        fill(store, 4)

    def back_date(seq: int, content: dict[str, Any]) -> dict[str, Any]:
        return {**content, "recorded_at": "2026-11-26T12:00:30.000000Z"} if seq == 3 else content

    rewrite(store_url, back_date)
    with open_store(store_url, create=False) as store:
        report = store.verify()
    assert not report.ok and report.broken_at == 3 and report.last_intact is not None
    assert report.last_intact.seq == 2
    assert report.problem == (
        "record 3 was recorded at 2026-11-26T12:00:30.000000Z, before record 2 (2026-11-26T12:02:00.000000Z): "
        "recorded_at never goes backwards in a log written by rollguard"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "record 3 has no recorded_at, but record 2 before it has one"),
        ("yesterday", "record 3: recorded_at 'yesterday' is not a UTC time as the store writes it"),
    ],
    ids=["removed", "not-a-time"],
)
def test_verify_catches_a_removed_or_garbled_recorded_at(store_url: str, value: str | None, problem: str) -> None:
    with open_store(store_url) as store:
        fill(store, 4)

    def garble(seq: int, content: dict[str, Any]) -> dict[str, Any]:
        if seq != 3:
            return content
        rest = {k: v for k, v in content.items() if k != "recorded_at"}
        return rest if value is None else {**rest, "recorded_at": value}

    rewrite(store_url, garble)
    with open_store(store_url, create=False) as store:
        report = store.verify()
    assert (report.broken_at, report.problem) == (3, problem)


def schema_version(url: str) -> int:
    if url.startswith("sqlite"):
        return int(sql(url, "PRAGMA user_version")[0][0])
    return int(sql(url, "SELECT version FROM rollguard_schema")[0][0])


def old_store(url: str, bodies: list[dict[str, Any]], *, version: int) -> None:
    """A store as an older rollguard left it: `version` migrations, records without recorded_at."""
    migrations = (sqlite if url.startswith("sqlite") else postgres).MIGRATIONS[:version]
    for statements in migrations:
        raw(url, *statements)
    if url.startswith("sqlite"):
        raw(url, f"PRAGMA user_version = {version}")
    else:
        raw(
            url,
            "CREATE TABLE rollguard_schema (version INTEGER NOT NULL)",
            f"INSERT INTO rollguard_schema VALUES ({version})",
        )
    prev = GENESIS
    for seq, content in enumerate(bodies, start=1):
        digest = chain_hash(seq, prev, content)
        sql(
            url,
            "INSERT INTO rollguard_decisions (seq, time, source, environment, verdict, prev_hash, hash, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                content["time"],
                content["source"],
                content["environment"],
                content["verdict"],
                prev,
                digest,
                canonical_json(content),
            ),
        )
        prev = digest
    sql(url, "UPDATE rollguard_chain_head SET seq = ?, hash = ? WHERE id = 1", (len(bodies), prev))


def test_records_from_before_recorded_at_still_verify_and_the_chain_carries_on(store_url: str) -> None:
    old_store(store_url, [body(1), body(2)], version=2)
    with open_store(store_url) as store:  # a writer migrates it
        third = store.append(body(3))
        records = list(store.records())
        assert store.verify().ok and store.verify().records == 3
    assert schema_version(store_url) == 3
    assert [r.recorded_at for r in records[:2]] == [None, None] and third.recorded_at is not None
    assert records[0].body == body(1)  # untouched: its hash still holds


def test_an_unknown_scheme_error_hides_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("mysql://admin:hunter2@db.example.com/log")
    assert "hunter2" not in str(caught.value) and "admin:***@db.example.com" in str(caught.value)
