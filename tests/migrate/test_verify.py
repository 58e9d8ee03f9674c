"""`migrate verify` on a real PostgreSQL server: locks, rewrites, scratch copies, failures and refusals."""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollguard.errors import ConfigError
from rollguard.migrate.verify import classify, normalized, target_table, verify
from rollguard.model import Artifact, Resource

AEL = "AccessExclusiveLock"


def migration(file: str, *statements: str) -> Artifact:
    """A migration document as the loader builds it: statements with their first line."""
    line, entries = 1, []
    for sql in statements:
        entries.append({"sql": sql, "line": line})
        line += sql.count("\n") + 1
    return Artifact(
        kind="migration",
        document={"kind": "Migration", "file": file, "statements": entries},
        file=file,
        line=1,
        resource=Resource("rollguard.io/v1", "Migration", None, file),
    )


def observed(artifact: Artifact) -> list[dict[str, Any] | None]:
    """Each statement's observed facts (None when it was not run)."""
    return [s.get("observed") for s in artifact.document["statements"]]


def locks(facts: dict[str, Any] | None) -> set[tuple[str, str]]:
    assert facts is not None
    return {(lock["relation"], lock["mode"]) for lock in facts["locks"]}


def server_version(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0])


def snapshot(url: str) -> dict[str, Any]:
    """Everything a committed migration would change: columns, indexes, relation files, rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            "columns": conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall(),
            "relations": conn.execute(
                "SELECT c.relname, c.relkind, c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' ORDER BY 1"
            ).fetchall(),
            "users": conn.execute("SELECT count(*), sum(age) FROM users").fetchone(),
        }


def leftover_copies(server: str) -> list[str]:
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'rollguard\\_verify\\_%'").fetchall()
    return [str(r[0]) for r in rows]


@pytest.fixture
def scratch(postgres_url: str) -> str:
    """A scratch database with real tables and rows."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        if server_version(postgres_url) < 130000:  # gen_random_uuid() is built in from 13
            conn.execute("CREATE EXTENSION pgcrypto")
        conn.execute("CREATE TABLE users (id bigserial PRIMARY KEY, name varchar(100) NOT NULL, age integer NOT NULL)")
        conn.execute("INSERT INTO users (name, age) SELECT 'user ' || g, g % 90 FROM generate_series(1, 20000) g")
        conn.execute("CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id))")
        conn.execute("INSERT INTO orders (user_id) SELECT g FROM generate_series(1, 20000) g")
    return postgres_url


def run(url: str, *artifacts: Artifact) -> tuple[list[Artifact], list[Any]]:
    verified, problems = verify(url, artifacts, scratch=True)
    assert len(verified) == len(artifacts)
    return verified, problems


def test_add_nullable_column_takes_access_exclusive_without_rewrite(scratch: str) -> None:
    (done,), problems = run(scratch, migration("001.sql", "ALTER TABLE users ADD COLUMN x int"))
    assert problems == []
    (facts,) = observed(done)
    assert facts is not None
    assert locks(facts) == {("users", AEL)}
    assert facts["rewrote"] == []
    assert facts["table_existed"] is True
    assert facts["outside_transaction"] is False
    assert facts["ms"] >= 0


def test_volatile_default_rewrites_the_table(scratch: str) -> None:
    (done,), problems = run(
        scratch, migration("002.sql", "ALTER TABLE users ADD COLUMN y uuid DEFAULT gen_random_uuid()")
    )
    assert problems == []
    (facts,) = observed(done)
    assert facts is not None
    assert facts["rewrote"] == ["users"]
    assert ("users", AEL) in locks(facts)


def test_constant_default_does_not_rewrite_from_11(scratch: str) -> None:
    (done,), problems = run(scratch, migration("003.sql", "ALTER TABLE users ADD COLUMN z int NOT NULL DEFAULT 0"))
    assert problems == []
    (facts,) = observed(done)
    assert facts is not None
    assert facts["rewrote"] == ([] if server_version(scratch) >= 110000 else ["users"])


def test_type_change_rewrites_only_when_the_storage_changes(scratch: str) -> None:
    (widened,), _ = run(scratch, migration("004.sql", "ALTER TABLE users ALTER COLUMN name TYPE text"))
    (changed,), _ = run(scratch, migration("005.sql", "ALTER TABLE users ALTER COLUMN age TYPE bigint"))
    (to_text,) = observed(widened)
    (to_bigint,) = observed(changed)
    assert to_text is not None and to_bigint is not None
    assert to_text["rewrote"] == []
    assert to_bigint["rewrote"] == ["users"]
    assert ("users", AEL) in locks(to_text) and ("users", AEL) in locks(to_bigint)


def test_create_index_takes_share_lock(scratch: str) -> None:
    (done,), problems = run(scratch, migration("006.sql", "CREATE INDEX users_age ON users (age)"))
    assert problems == []
    (facts,) = observed(done)
    assert locks(facts) == {("users", "ShareLock")}  # the new index itself is not pre-existing
    assert facts is not None and facts["rewrote"] == [] and facts["table_existed"] is True


def test_create_index_concurrently_runs_on_a_dropped_copy(scratch: str, postgres_server: str) -> None:
    before = snapshot(scratch)
    (done,), problems = run(
        scratch,
        migration(
            "007.sql",
            "ALTER TABLE users ADD COLUMN email text",
            # Needs the column from the statement before: proves the copy replays it first.
            "CREATE INDEX CONCURRENTLY users_email ON users (email)",
            "ALTER TABLE users ADD COLUMN w int",
        ),
    )
    assert problems == []
    added, concurrent, after = observed(done)
    assert locks(added) == {("users", AEL)}
    assert concurrent is not None and concurrent["outside_transaction"] is True
    assert ("users", "ShareUpdateExclusiveLock") in locks(concurrent)
    assert ("users", AEL) not in locks(concurrent) and ("users", "ShareLock") not in locks(concurrent)
    assert concurrent["rewrote"] == [] and concurrent["table_existed"] is True
    # The statement after it continues on the copy, with the same facts.
    assert after is not None and locks(after) == {("users", AEL)} and after["outside_transaction"] is False
    assert leftover_copies(postgres_server) == []
    assert snapshot(scratch) == before


def test_vacuum_full_rewrite_is_seen_on_the_copy(scratch: str, postgres_server: str) -> None:
    (done,), problems = run(scratch, migration("008.sql", "VACUUM FULL users"))
    assert problems == []
    (facts,) = observed(done)
    assert facts is not None and facts["rewrote"] == ["users"] and facts["outside_transaction"] is True
    assert ("users", AEL) in locks(facts)
    assert leftover_copies(postgres_server) == []


def test_table_created_in_the_same_migration(scratch: str) -> None:
    (done,), problems = run(
        scratch,
        migration(
            "009.sql",
            "CREATE TABLE audit (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id))",
            "ALTER TABLE audit ADD COLUMN note text DEFAULT gen_random_uuid()::text",
        ),
    )
    assert problems == []
    created, altered = observed(done)
    assert created is not None and altered is not None
    assert created["table_existed"] is False and altered["table_existed"] is False
    # Nobody else can see the new table, so only the referenced table's lock is a fact worth judging.
    assert {relation for relation, _ in locks(created)} == {"users"}
    assert ("users", "ShareRowExclusiveLock") in locks(created) and ("users", AEL) not in locks(created)
    assert locks(altered) == set() and altered["rewrote"] == []


def test_locks_are_attributed_to_the_statement_that_took_them(scratch: str) -> None:
    first_file, second_file = run(
        scratch,
        migration("010.sql", "ALTER TABLE users ADD COLUMN a int", "ALTER TABLE users ADD COLUMN b int"),
        migration("011.sql", "ALTER TABLE users ADD COLUMN c int"),
    )[0]
    first, second = observed(first_file)
    (third,) = observed(second_file)
    assert locks(first) == {("users", AEL)}
    # The change's transaction already holds the lock: the later statements add no new one.
    assert locks(second) == set() and locks(third) == set()


def test_later_files_see_earlier_files(scratch: str) -> None:
    created, altered = run(
        scratch,
        migration("001.sql", "CREATE TABLE audit (id bigint PRIMARY KEY)"),
        migration(
            "002.sql", "ALTER TABLE audit ADD COLUMN note text", "CREATE INDEX CONCURRENTLY audit_note ON audit (note)"
        ),
    )[0]
    facts = observed(altered)
    assert all(f is not None and f["table_existed"] is False for f in facts)


def test_failing_statement_stops_its_file_and_the_next_file_still_runs(scratch: str) -> None:
    earlier = migration("010.sql", "CREATE TABLE audit (id bigint PRIMARY KEY)")
    broken = migration(
        "011.sql",
        "ALTER TABLE users ADD COLUMN ok int",
        "ALTER TABLE users\n  ADD COLUMN total int,\n  DROP COLUMN missing",
        "ALTER TABLE users ADD COLUMN never int",
    )
    # Runs on a fresh transaction that has the earlier file's table but none of the broken file's columns.
    fine = migration(
        "012.sql",
        "ALTER TABLE orders ADD COLUMN note text",
        "ALTER TABLE audit ADD COLUMN ok int",
        "ALTER TABLE users ADD COLUMN ok int",
    )
    (_, broken_done, fine_done), problems = run(scratch, earlier, broken, fine)
    assert len(problems) == 1
    (problem,) = problems
    assert problem.file == "011.sql"
    assert problem.line == 2
    assert 'column "missing" of relation "users" does not exist' in problem.message
    assert "SQLSTATE 42703" in problem.message
    first, failed, skipped = observed(broken_done)
    assert first is not None and failed is None and skipped is None
    orders, audit, users = observed(fine_done)
    assert users is not None
    assert locks(orders) == {("orders", AEL)}
    assert audit is not None and audit["table_existed"] is False


def test_failure_position_points_at_the_line(scratch: str) -> None:
    (_,), (problem,) = run(scratch, migration("013.sql", "SELECT 1", "SELECT id,\n  nope\nFROM users"))
    assert problem.line == 3  # the statement starts on line 2; `nope` is on its second line
    assert 'column "nope" does not exist' in problem.message


def test_nothing_is_committed(scratch: str, postgres_server: str) -> None:
    before = snapshot(scratch)
    run(
        scratch,
        migration(
            "014.sql",
            "BEGIN",
            "ALTER TABLE users ADD COLUMN x int",
            "UPDATE users SET age = age + 1",
            "COMMIT",
            "CREATE INDEX users_name ON users (name)",
        ),
        migration("015.sql", "ALTER TABLE users ALTER COLUMN age TYPE bigint", "DROP TABLE orders"),
        migration("016.sql", "CREATE TABLE t (id int)", "CREATE INDEX CONCURRENTLY t_id ON t (id)"),
        migration("017.sql", "ALTER TABLE users DROP COLUMN name", "SELECT nope"),
    )
    assert snapshot(scratch) == before
    assert leftover_copies(postgres_server) == []


def test_commit_inside_a_statement_cannot_commit(scratch: str) -> None:
    before = snapshot(scratch)
    # Transaction control inside a DO block is refused inside a transaction block; if it ever
    # were not, the deferred guard trigger would still fail the commit.
    (done,), problems = run(
        scratch, migration("018.sql", "ALTER TABLE users ADD COLUMN x int", "DO $$ BEGIN COMMIT; END $$")
    )
    assert len(problems) == 1 and problems[0].line == 2
    assert snapshot(scratch) == before


def test_transaction_control_statements_are_skipped(scratch: str) -> None:
    (done,), problems = run(scratch, migration("019.sql", "BEGIN;", "ALTER TABLE users ADD COLUMN x int", "COMMIT;"))
    assert problems == []
    begin, alter, commit = observed(done)
    assert begin is None and commit is None and alter is not None


def test_server_wide_statements_are_not_run(scratch: str, postgres_server: str) -> None:
    (_,), (problem,) = run(scratch, migration("020.sql", "CREATE DATABASE other"))
    assert "whole server" in problem.message and problem.line == 1
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'other'").fetchone() is None


def test_inputs_are_not_mutated(scratch: str) -> None:
    original = migration("021.sql", "ALTER TABLE users ADD COLUMN x int")
    kept = copy.deepcopy(dict(original.document))
    (done,), _ = run(scratch, original)
    assert dict(original.document) == kept
    assert observed(done)[0] is not None


def test_other_artifacts_pass_through(scratch: str) -> None:
    other = Artifact(
        kind="k8s", document={"kind": "Pod"}, file="pod.yaml", line=1, resource=Resource("v1", "Pod", "default", "p")
    )
    (same,), problems = run(scratch, other)
    assert same is other and problems == []


@pytest.mark.parametrize(
    ("dsn", "scratch_flag", "expected"),
    [
        ("postgresql://u@127.0.0.1:5432/app_scratch", False, "--scratch"),
        ("postgresql://u@127.0.0.1:5432", True, "name the scratch database"),
        ("postgresql://u@127.0.0.1:5432/", True, "name the scratch database"),
        ("host=127.0.0.1 user=u", True, "name the scratch database"),
        ("postgresql://u@127.0.0.1:5432/postgres", True, "never disposable"),
        ("postgresql://u@127.0.0.1:5432/template0", True, "never disposable"),
        ("host=127.0.0.1 dbname=template1", True, "never disposable"),
        ("host=127.0.0.1 dbname='host=127.0.0.1 dbname=postgres'", True, "connection string"),
    ],
)
def test_refuses_databases_not_marked_disposable(dsn: str, scratch_flag: bool, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        verify(dsn, [migration("x.sql", "DROP TABLE users")], scratch=scratch_flag)


def test_unreachable_server_is_one_line_naming_it() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError) as caught:
        verify(f"postgresql://u:secret@127.0.0.1:{port}/app_scratch", [], scratch=True)
    message = str(caught.value)
    assert f"127.0.0.1:{port}/app_scratch" in message
    assert "\n" not in message and "secret" not in message


@pytest.mark.parametrize(
    ("sql", "category"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a)", "outside"),
        ("-- why\ncreate unique index concurrently if not exists i on t (a)", "outside"),
        ("DROP INDEX CONCURRENTLY i", "outside"),
        ("REINDEX (VERBOSE) TABLE CONCURRENTLY t", "outside"),
        ("VACUUM (ANALYZE) t", "outside"),
        ("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "outside"),
        ("CREATE INDEX i ON t (a)", "transactional"),
        ("/* CREATE INDEX CONCURRENTLY */ CREATE INDEX i ON t (a)", "transactional"),
        ("ALTER TYPE mood ADD VALUE 'meh'", "transactional"),
        ("BEGIN", "control"),
        ("commit;", "control"),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "control"),
        ("CREATE DATABASE x", "server"),
        ("ALTER SYSTEM SET work_mem = '1GB'", "server"),
        ("COMMENT ON TABLE t IS 'BEGIN'", "transactional"),
        ("DO $$ BEGIN COMMIT; END $$", "transactional"),
    ],
)
def test_classify(sql: str, category: str) -> None:
    assert classify(sql, server_version=150000) == category


def test_add_enum_value_needs_a_copy_before_12() -> None:
    assert classify("ALTER TYPE mood ADD VALUE 'meh'", server_version=110000) == "outside"


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("ALTER TABLE IF EXISTS ONLY public.users ADD COLUMN x int", "public.users"),
        ("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY users (a)", "users"),
        ("CREATE INDEX ON users (a)", "users"),
        ('CREATE UNLOGGED TABLE "Odd ""Name""" (id int)', '"Odd ""Name"""'),
        ("INSERT INTO users VALUES (1)", "users"),
        ("SELECT 1", None),
    ],
)
def test_target_table(sql: str, table: str | None) -> None:
    assert target_table(sql) == table


@given(st.text())
def test_normalized_accepts_any_text(text: str) -> None:
    result = normalized(text)
    assert "\n" not in result
    assert normalized(result) == result


def test_loader_documents_with_long_statements_and_parts(scratch: str) -> None:
    from rollguard.inputs.migration import load_migrations

    columns = ",\n".join(f"  ADD COLUMN c{i} integer" for i in range(40))
    text = (
        f"-- widen\nALTER TABLE users\n{columns};\nALTER TABLE users ADD COLUMN a int, ALTER COLUMN age TYPE bigint;\n"
    )
    artifacts, load_problems = load_migrations([("001_widen.sql", text)])
    assert load_problems == []
    long_entries = [s for s in artifacts[0].document["statements"] if s["line"] == 2]
    assert len(long_entries[0]["sql"]) == 500  # the loader keeps a preview only

    without_text, problems = verify(scratch, artifacts, scratch=True)
    assert [(p.line, "first 500 characters" in p.message) for p in problems] == [(2, True)]

    (done,), problems = verify(scratch, artifacts, scratch=True, sources={"001_widen.sql": text})
    assert problems == []
    entries = done.document["statements"]
    assert locks(entries[0]["observed"]) == {("users", AEL)}
    # The two parts of one statement: its single run's facts are on the first, so they are judged once.
    parts = [e for e in entries if e["line"] == 43]
    assert [e["part"] for e in parts] == [0, 1]
    assert parts[0]["observed"]["rewrote"] == ["users"] and parts[1]["observed"] is None


def test_cli_judges_the_observed_facts(scratch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from rollguard.cli import main

    monkeypatch.chdir(tmp_path)  # no rollguard.yaml from the surroundings
    (tmp_path / "001_add.sql").write_text("ALTER TABLE users ADD COLUMN x int;\n", encoding="utf-8")
    (tmp_path / "002_index.sql").write_text("CREATE INDEX CONCURRENTLY users_x ON users (x);\n", encoding="utf-8")
    args = ["migrate", "verify", str(tmp_path), "--dsn", scratch, "--format", "json", "--engine", "regorus"]

    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "--scratch" in refused.output

    result = CliRunner().invoke(main, [*args, "--scratch"])
    report = json.loads(result.stdout)
    observed_locks = [f for f in report["findings"] if f["policy"] == "migration.observed_lock"]
    assert [(f["file"], f["line"], f["details"]["relation"]) for f in observed_locks] == [
        (str(tmp_path / "001_add.sql"), 1, "users")
    ]
    assert result.exit_code == 1


# --------------------------------------------------------------------------- migrations that ran already

CREATE_AUDIT = "CREATE TABLE audit (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id), note text);\n"
RESHAPE_AUDIT = (
    "ALTER TABLE audit ADD COLUMN public_id uuid DEFAULT gen_random_uuid();\n"
    "ALTER TABLE audit DROP COLUMN note;\n"
    "CREATE INDEX audit_user_idx ON audit (user_id);\n"
)


def _history_files(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    texts = {"V1__create_audit.sql": CREATE_AUDIT, "V2__reshape_audit.sql": RESHAPE_AUDIT}
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return {(folder / name).as_posix(): text for name, text in texts.items()}


def test_migrations_that_ran_already_are_applied_first_and_not_observed(
    scratch: str, tmp_path: Path, postgres_server: str
) -> None:
    from rollguard.inputs.migration import load_migrations
    from rollguard.inputs.pending import PendingFrom

    sources = _history_files(tmp_path / "db")
    artifacts, load_problems = load_migrations(list(sources.items()), pending=PendingFrom("2"))
    assert load_problems == []
    (applied, pending), problems = run_with(scratch, artifacts, sources)
    assert problems == []
    assert observed(applied) == [None]
    add, drop, index = observed(pending)
    # The table exists in production: locks on it and its rewrite are facts, as on any existing table.
    assert add is not None and add["table_existed"] is True
    assert ("audit", AEL) in locks(add) and add["rewrote"] == ["audit"]
    assert drop is not None and drop["table_existed"] is True
    assert index is not None and index["table_existed"] is True
    # Nothing of either file stays behind, and the copy that held the applied one is gone.
    with psycopg.connect(scratch, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('audit')").fetchone() == (None,)
    assert leftover_copies(postgres_server) == []


def run_with(url: str, artifacts: list[Artifact], sources: dict[str, str]) -> tuple[list[Artifact], list[Any]]:
    verified, problems = verify(url, artifacts, scratch=True, sources=sources)
    assert len(verified) == len(artifacts)
    return verified, problems


def test_a_later_migration_alone_needs_the_earlier_ones_applied_first(
    scratch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from rollguard.cli import main

    monkeypatch.chdir(tmp_path)  # no rollguard.yaml from the surroundings
    _history_files(tmp_path / "db")
    base = ["migrate", "verify", "--dsn", scratch, "--scratch", "--format", "json", "--engine", "regorus"]

    alone = CliRunner().invoke(main, [*base, "db/V2__reshape_audit.sql"])
    assert alone.exit_code == 2
    assert ['relation "audit" does not exist' in e["message"] for e in json.loads(alone.stdout)["errors"]] == [True]

    result = CliRunner().invoke(main, [*base, "db", "--pending-from", "2"])
    report = json.loads(result.stdout)
    assert report["errors"] == []
    observed_findings = {(f["policy"], f["file"], f["line"]) for f in report["findings"] if ".observed_" in f["policy"]}
    assert observed_findings == {
        ("migration.observed_lock", "db/V2__reshape_audit.sql", 1),
        ("migration.observed_rewrite", "db/V2__reshape_audit.sql", 1),
    }
    assert {f["file"] for f in report["findings"]} == {"db/V2__reshape_audit.sql"}
    assert result.exit_code == 1

    # The same, told by the history table of the database the migrations run on.
    history = scratch.rsplit("/", 1)[0] + "/" + scratch.rsplit("/", 1)[1] + "_prod"
    with psycopg.connect(scratch, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {history.rsplit('/', 1)[1]}")
    with psycopg.connect(history, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE flyway_schema_history (version varchar(50), type varchar(20), script text, success bool)"
        )
        conn.execute("INSERT INTO flyway_schema_history VALUES ('1', 'SQL', 'V1__create_audit.sql', true)")
    told = CliRunner().invoke(main, [*base, "db", "--history-dsn", history])
    assert [(f["policy"], f["line"]) for f in json.loads(told.stdout)["findings"]] == [
        (f["policy"], f["line"]) for f in report["findings"]
    ]


def test_migrations_the_scratch_database_records_are_not_applied_again(scratch: str, tmp_path: Path) -> None:
    from rollguard.inputs.migration import load_migrations
    from rollguard.inputs.pending import PendingFrom

    with psycopg.connect(scratch, autocommit=True) as conn:  # a copy of production: V1 ran there
        conn.execute(CREATE_AUDIT)
        conn.execute(
            "CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), type varchar(20),"
            " script varchar(1000), success boolean)"
        )
        conn.execute("INSERT INTO flyway_schema_history VALUES (1, '1', 'SQL', 'V1__create_audit.sql', true)")
    sources = _history_files(tmp_path / "db")
    artifacts, _ = load_migrations(list(sources.items()), pending=PendingFrom("2"))
    (_, pending), problems = run_with(scratch, artifacts, sources)
    assert problems == []
    add = observed(pending)[0]
    assert add is not None and add["table_existed"] is True and add["rewrote"] == ["audit"]


def test_an_applied_migration_that_fails_stops_before_any_pending_one(scratch: str, tmp_path: Path) -> None:
    from rollguard.inputs.migration import load_migrations
    from rollguard.inputs.pending import PendingFrom

    with psycopg.connect(scratch, autocommit=True) as conn:  # holds V1's table, but no history says so
        conn.execute(CREATE_AUDIT)
    sources = _history_files(tmp_path / "db")
    artifacts, _ = load_migrations(list(sources.items()), pending=PendingFrom("2"))
    verified, (problem,) = run_with(scratch, artifacts, sources)
    assert (problem.file, problem.line) == ((tmp_path / "db" / "V1__create_audit.sql").as_posix(), 1)
    assert problem.message.startswith("this migration has run already, and applying it to the scratch copy")
    assert 'relation "audit" already exists' in problem.message
    assert all(facts is None for artifact in verified for facts in observed(artifact))


# --------------------------------------------------------------------------- SQL that never ends


@pytest.mark.parametrize(
    ("opening", "what"),
    [
        ("'never closed", "string literal '...'"),
        ('"never closed', 'quoted identifier "..."'),
        ("$body$ never closed", "dollar-quoted string $body$ ... $body$"),
        ("/* never closed", "comment /* ... */"),
    ],
)
def test_sql_that_never_ends_is_reported_like_the_loader_does(scratch: str, opening: str, what: str) -> None:
    # A document the loader did not cut (built elsewhere): the statement before it still runs.
    (done,), (problem,) = run(
        scratch, migration("014.sql", "ALTER TABLE users ADD COLUMN x int", f"SELECT 1,\n  {opening}")
    )
    assert (problem.file, problem.line) == ("014.sql", 3)
    assert problem.message.startswith(f"the {what} opened here is never closed")
    first, second = observed(done)
    assert first is not None and locks(first) == {("users", AEL)} and second is None


def test_the_loader_and_verify_report_the_same_problem(scratch: str) -> None:
    from rollguard.inputs.migration import load_migrations

    text = "ALTER TABLE users ADD COLUMN x int;\nUPDATE users SET name = 'oops;\nALTER TABLE users DROP COLUMN age;\n"
    artifacts, load_problems = load_migrations([("015.sql", text)])
    statements = [dict(s) for s in artifacts[0].document["statements"]]
    cut = migration("015.sql", "ALTER TABLE users ADD COLUMN x int", "UPDATE users SET name = 'oops;")
    _, verify_problems = run(scratch, cut)
    assert [s["operation"] for s in statements] == ["add_column"]
    assert [(p.line, p.message) for p in verify_problems] == [(p.line, p.message) for p in load_problems]
