"""Which migrations are pending: a table counts as new only when a pending file (or the same file) creates
it, and the user says which files are pending with --pending-from, --since (git) or --dsn (history table)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.cli import main
from rollguard.errors import ConfigError
from rollguard.inputs.pending import (
    AppliedHistory,
    ChangedSince,
    MigrationRef,
    PendingFrom,
    changed_since,
    decide,
    read_history,
    select_pending,
)
from tests.audit.conftest import postgres_server, postgres_url  # noqa: F401  (the real PostgreSQL of the suite)

CREATE = "CREATE TABLE orders (id bigint PRIMARY KEY, note text, customer_id bigint);\n"
# Everything here is harmless on a table the change creates, and blocks traffic on one that exists.
RESHAPE = (
    "SET lock_timeout = '5s';\n"
    "ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid();\n"
    "ALTER TABLE orders DROP COLUMN note;\n"
    "CREATE INDEX orders_customer_idx ON orders (customer_id);\n"
)
LATER_FINDINGS = [
    ("migration.volatile_default", 2),
    ("migration.drop_column", 3),
    ("migration.index_concurrently", 4),
]
HINT = "say which migrations have not run yet with --pending-from, --since or --dsn"


@dataclass(frozen=True)
class Layout:
    """One naming convention: the two files, and how its tool records what ran."""

    tool: str
    first: str
    later: str

    def write(self, folder: Path, *, later: bool = True) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        first, second = folder / self.first, folder / self.later
        first.write_text(CREATE, encoding="utf-8")
        if later:
            second.write_text(RESHAPE, encoding="utf-8")
        return first, second


LAYOUTS = [
    Layout("flyway", "V1__create_orders.sql", "V2__reshape_orders.sql"),
    Layout("golang-migrate", "1_create_orders.up.sql", "2_reshape_orders.up.sql"),
    Layout("numbered", "001_create_orders.sql", "002_reshape_orders.sql"),
]


@pytest.fixture(params=LAYOUTS, ids=[layout.tool for layout in LAYOUTS])
def layout(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    monkeypatch.chdir(tmp_path)  # no rollguard.yaml from the surroundings
    value: Layout = request.param
    return value


def check(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", "--format", "json", "--engine", "regorus", *args])
    report = json.loads(result.stdout) if result.stdout.startswith("{") else {}
    return result, report


def findings_of(report: dict[str, Any], file: Path) -> list[tuple[str, int]]:
    return sorted(((f["policy"], f["line"]) for f in report["findings"] if f["file"] == file.as_posix()), key=_by_line)


def _by_line(item: tuple[str, int]) -> int:
    return item[1]


def later_findings(report: dict[str, Any], later: Path) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["file"] == later.as_posix()]


# --------------------------------------------------------------------------- no option: the file itself


def test_without_an_option_the_later_file_is_judged_and_told_how_to_mark_pending(layout: Layout) -> None:
    first, later = layout.write(Path("migrations"))
    result, report = check("migrations")
    assert result.exit_code == 1, result.output
    assert findings_of(report, later) == LATER_FINDINGS
    assert findings_of(report, first) == []
    for finding in later_findings(report, later):
        assert finding["message"].endswith(
            f'(table "orders" is created by {first.as_posix()}, which is not known to be pending, so it is judged '
            f"as existing; {HINT})"
        )
        assert finding["details"]["table_created_in"] == first.as_posix()


def test_a_table_created_earlier_in_the_same_file_is_still_new(layout: Layout) -> None:
    folder = Path("migrations")
    folder.mkdir()
    (folder / layout.first).write_text(CREATE + RESHAPE, encoding="utf-8")
    result, report = check("migrations")
    assert result.exit_code == 0, result.output
    assert report["findings"] == []


# --------------------------------------------------------------------------- --pending-from


def test_pending_from_the_later_version_judges_it_on_an_existing_table(layout: Layout) -> None:
    first, later = layout.write(Path("migrations"))
    result, report = check("migrations", "--pending-from", "2")
    assert result.exit_code == 1, result.output
    assert findings_of(report, later) == LATER_FINDINGS
    assert all(HINT not in f["message"] and "table_created_in" not in f["details"] for f in report["findings"])


def test_pending_from_the_first_version_makes_the_table_new(layout: Layout) -> None:
    layout.write(Path("migrations"))
    result, report = check("migrations", "--pending-from", "1")
    assert result.exit_code == 0, result.output
    assert report["findings"] == []


def test_files_that_ran_already_are_context_not_judged(layout: Layout) -> None:
    first, later = layout.write(Path("migrations"))
    # The already-applied file breaks a rule of its own: it ran long ago and is not judged again.
    first.write_text(CREATE + "ALTER TABLE legacy DROP COLUMN old;\n", encoding="utf-8")
    _, default = check("migrations")
    assert ("migration.drop_column", 2) in findings_of(default, first)
    _, report = check("migrations", "--pending-from", "2")
    assert findings_of(report, first) == []
    assert findings_of(report, later) == LATER_FINDINGS


def test_pending_from_a_version_no_file_has() -> None:
    files = [
        MigrationRef("a/0001_initial.sql", "django", None, "up"),
        MigrationRef("a/0002_x.sql", "django", None, "up"),
    ]
    states, problems = decide(PendingFrom("0002_x"), files)
    assert (states, problems) == ([False, True], [])
    states, problems = decide(PendingFrom("0003_y"), files)
    assert states == [None, None]
    assert [(p.file, p.message.split(";")[0]) for p in problems] == [
        ("--pending-from", "no migration of the change has version or name '0003_y'")
    ]


def test_pending_from_compares_versions_as_numbers() -> None:
    files = [MigrationRef(f"V{v}__x.sql", "flyway", v, "up") for v in ("1.9", "1.10", "2")]
    assert decide(PendingFrom("1.10"), files)[0] == [False, True, True]
    assert decide(PendingFrom("V1_10_0"), files)[0] == [False, True, True]
    # A version between files: the next one is pending (8 when 7 ran and 8 is about to be written).
    assert decide(PendingFrom("1.95"), files)[0] == [False, False, True]


@settings(max_examples=200, deadline=None)
@given(version=st.text(max_size=12), numbers=st.lists(st.integers(0, 30), min_size=1, max_size=6, unique=True))
def test_pending_from_any_text_never_crashes_and_pending_files_come_last(version: str, numbers: list[int]) -> None:
    files = [MigrationRef(f"{n}_x.up.sql", "golang-migrate", str(n), "up") for n in sorted(numbers)]
    states, problems = decide(PendingFrom(version), files)
    assert len(states) == len(files)
    known = [s for s in states if s is not None]
    # Once one file is pending, every later one is too.
    assert known == sorted(known)
    assert bool(problems) == (not known)


# --------------------------------------------------------------------------- --since


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=30,
    )


def test_since_a_commit_pending_files_are_the_added_and_changed_ones(layout: Layout) -> None:
    repo = Path.cwd()
    git(repo, "init", "-q")
    first, _ = layout.write(Path("migrations"), later=False)
    git(repo, "add", "migrations")
    git(repo, "commit", "-q", "-m", "the first migration, deployed")
    _, later = layout.write(Path("migrations"))  # the second one is new (untracked) in this change

    result, report = check("migrations", "--since", "HEAD")
    assert result.exit_code == 1, result.output
    assert findings_of(report, later) == LATER_FINDINGS
    assert all(HINT not in f["message"] for f in report["findings"])

    # Staged counts as changed too; and once both are committed, nothing is pending since that commit.
    git(repo, "add", "migrations")
    _, staged = check("migrations", "--since", "HEAD")
    assert findings_of(staged, later) == LATER_FINDINGS
    git(repo, "commit", "-q", "-m", "the second one")
    result, report = check("migrations", "--since", "HEAD")
    assert result.exit_code == 0 and report["findings"] == []
    _, report = check("migrations", "--since", "HEAD~1")
    assert findings_of(report, later) == LATER_FINDINGS


def test_since_when_both_files_are_new_the_table_is_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q")
    (tmp_path / "README").write_text("app\n", encoding="utf-8")
    git(tmp_path, "add", "README")
    git(tmp_path, "commit", "-q", "-m", "start")
    LAYOUTS[0].write(tmp_path / "db")
    result, report = check("db", "--since", "HEAD")
    assert result.exit_code == 0, result.output
    assert report["findings"] == []


def test_since_needs_a_known_ref_in_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    LAYOUTS[0].write(tmp_path / "migrations")
    result, _ = check("migrations", "--since", "main")
    assert result.exit_code == 2
    assert "--since: " in result.stderr and "is not in a git repository" in result.stderr

    git(tmp_path, "init", "-q")
    result, _ = check("migrations", "--since", "no-such-branch")
    assert result.exit_code == 2
    assert "--since no-such-branch: no such commit" in result.stderr

    result, _ = check("migrations", "--since", "--output=x")
    assert result.exit_code == 2 and "is not a git ref" in result.stderr


def test_changed_since_reads_paths_relative_to_the_repository_top(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    first, later = LAYOUTS[0].write(tmp_path / "service" / "db")
    git(tmp_path, "add", "service/db/" + first.name)
    git(tmp_path, "commit", "-q", "-m", "one")
    first.write_text(CREATE + "-- edited\n", encoding="utf-8")
    selection = changed_since("HEAD", [first, later])
    assert selection == ChangedSince("HEAD", frozenset({str(first.resolve()), str(later.resolve())}))


# --------------------------------------------------------------------------- --dsn


def record_applied(url: str, tool: str, versions: list[int]) -> None:
    """The history table the tool itself keeps, as it looks after `versions` ran."""
    with psycopg.connect(url, autocommit=True) as conn:
        if tool == "flyway":
            conn.execute(
                "CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50),"
                " description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL,"
                " checksum int, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),"
                " execution_time int NOT NULL, success boolean NOT NULL)"
            )
            for rank, version in enumerate(versions, start=1):
                conn.execute(
                    "INSERT INTO flyway_schema_history VALUES (%s, %s, 'x', 'SQL', %s, 0, 'ci', now(), 5, true)",
                    (rank, str(version), f"V{version}__x.sql"),
                )
        else:  # golang-migrate keeps one row: the version the database is at
            conn.execute("CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
            if versions:
                conn.execute("INSERT INTO schema_migrations VALUES (%s, false)", (max(versions),))


def test_dsn_reads_what_ran_from_the_tools_history_table(layout: Layout, postgres_url: str) -> None:  # noqa: F811
    first, later = layout.write(Path("migrations"))
    record_applied(postgres_url, layout.tool, [1])
    result, report = check("migrations", "--dsn", postgres_url)
    assert result.exit_code == 1, result.output
    assert findings_of(report, later) == LATER_FINDINGS
    assert findings_of(report, first) == []
    assert all(HINT not in f["message"] for f in report["findings"])


def test_dsn_with_nothing_applied_makes_the_table_new(layout: Layout, postgres_url: str) -> None:  # noqa: F811
    layout.write(Path("migrations"))
    record_applied(postgres_url, layout.tool, [])
    result, report = check("migrations", "--history-dsn", postgres_url)
    assert result.exit_code == 0, result.output
    assert report["findings"] == []


def test_dsn_reads_in_a_read_only_transaction(postgres_url: str) -> None:  # noqa: F811
    record_applied(postgres_url, "flyway", [1, 2])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # The history becomes a view that refuses to be read outside a read-only transaction.
        conn.execute("ALTER TABLE flyway_schema_history RENAME TO flyway_rows")
        conn.execute(
            "CREATE FUNCTION read_only_only() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN"
            " IF current_setting('transaction_read_only') <> 'on' THEN RAISE EXCEPTION 'written to'; END IF;"
            " RETURN true; END $$"
        )
        conn.execute("CREATE VIEW flyway_schema_history AS SELECT * FROM flyway_rows WHERE read_only_only()")
        with pytest.raises(psycopg.errors.RaiseException):
            conn.execute("SELECT * FROM flyway_schema_history")
    history = read_history(postgres_url)
    assert history.flyway_versions == frozenset({"1", "2"})
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rollguard migration history'"
        ).fetchone()
    assert row == (0,)  # the connection is closed afterwards


def test_dsn_without_a_history_table_or_server_is_a_clear_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,  # noqa: F811
) -> None:
    monkeypatch.chdir(tmp_path)
    LAYOUTS[0].write(tmp_path / "migrations")
    result, _ = check("migrations", "--dsn", postgres_url)
    assert result.exit_code == 2
    assert "has no migration history table (looked for flyway_schema_history" in result.stderr

    record_applied(postgres_url, "golang-migrate", [1])  # a table, but not Flyway's
    result, report = check("migrations", "--dsn", postgres_url)
    assert result.exit_code == 2
    assert [(e["file"], e["message"].split(",")[0]) for e in report["errors"]] == [
        ("migrations/V1__create_orders.sql", f"--dsn: {postgres_url.split('@')[1]} has no flyway_schema_history table")
    ]

    result, _ = check("migrations", "--dsn", "postgresql://nobody@127.0.0.1:1/app")
    assert result.exit_code == 2
    assert "--dsn: cannot connect to PostgreSQL at 127.0.0.1:1/app" in result.stderr


def test_only_one_way_of_saying_what_is_pending(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    LAYOUTS[0].write(tmp_path / "migrations")
    result, _ = check("migrations", "--pending-from", "2", "--since", "HEAD")
    assert result.exit_code == 2
    assert "--pending-from and --since each say which migrations are pending; give only one" in result.stderr
    with pytest.raises(ConfigError, match="needs the version"):
        select_pending(pending_from=" ", since=None, dsn=None, files=[])
    assert select_pending(pending_from=None, since=None, dsn=None, files=[]) is None


# --------------------------------------------------------------------------- histories of each tool


def test_golang_migrate_dirty_version_is_still_pending() -> None:
    files = [MigrationRef(f"{v}_x.up.sql", "golang-migrate", str(v), "up") for v in (1, 2, 3)]
    clean = AppliedHistory("db", schema_versions=frozenset({2}), schema_current=2, schema_dirty=False)
    dirty = AppliedHistory("db", schema_versions=frozenset({2}), schema_current=2, schema_dirty=True)
    assert decide(clean, files)[0] == [False, False, True]
    assert decide(dirty, files)[0] == [False, True, True]
    # One row per applied version (dbmate and others): a gap is pending.
    rows = AppliedHistory("db", schema_versions=frozenset({1, 3}))
    assert decide(rows, files)[0] == [False, True, False]


def test_flyway_baseline_and_repeatable_migrations() -> None:
    files = [
        MigrationRef("V1__a.sql", "flyway", "1", "up"),
        MigrationRef("V5__b.sql", "flyway", "5", "up"),
        MigrationRef("V6__c.sql", "flyway", "6", "up"),
        MigrationRef("R__views.sql", "flyway", None, "up"),
        MigrationRef("R__new.sql", "flyway", None, "up"),
        MigrationRef("U6__c.sql", "flyway", "6", "down"),
    ]
    history = AppliedHistory(
        "db", flyway_versions=frozenset({"6"}), flyway_scripts=frozenset({"R__views.sql"}), flyway_baseline=(5,)
    )
    # A repeatable one that ran reruns when it changes, which rollguard cannot tell: unknown.
    assert decide(history, files) == ([False, False, False, None, True, None], [])


def test_alembic_revisions_follow_the_chain_to_the_database_head() -> None:
    files = [
        MigrationRef("upgrade_1.sql", "alembic", "b2", "up", (("", "a1"), ("a1", "b2"))),
        MigrationRef("upgrade_2.sql", "alembic", "c3", "up", (("b2", "c3"),)),
    ]
    assert decide(AppliedHistory("db", alembic_heads=frozenset({"b2"})), files)[0] == [False, True]
    assert decide(AppliedHistory("db", alembic_heads=frozenset()), files)[0] == [True, True]
    assert decide(AppliedHistory("db", alembic_heads=frozenset({"c3"})), files)[0] == [False, False]


def test_django_migrations_match_app_folder_and_name() -> None:
    files = [
        MigrationRef("shop/0001_initial.sql", "django", None, "up"),
        MigrationRef("shop/0002_email.sql", "django", None, "up"),
        MigrationRef("0001_initial.sql", "django", None, "up"),
    ]
    history = AppliedHistory("db", django_applied=frozenset({("shop", "0001_initial"), ("auth", "0001_initial")}))
    # Outside an app folder, a name two apps share cannot tell.
    assert decide(history, files)[0] == [False, True, None]
