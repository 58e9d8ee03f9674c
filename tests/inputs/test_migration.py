"""Reading migrations: tool order, statement facts, transactions, timeouts, lines, and input that never crashes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.inputs.migration import (
    OPERATIONS,
    find_unterminated,
    load_migrations,
    read_sql_file,
    split_statements,
)
from rollguard.inputs.pending import PendingFrom


def _docs(sources: list[tuple[str, str]], **options: Any) -> list[dict[str, Any]]:
    artifacts, problems = load_migrations(sources, **options)
    assert problems == []
    return [dict(a.document) for a in artifacts]


def _statements(text: str, name: str = "V1__change.sql", **options: Any) -> list[dict[str, Any]]:
    (doc,) = _docs([(name, text)], **options)
    statements: list[dict[str, Any]] = doc["statements"]
    return statements


def _one(sql: str, **options: Any) -> dict[str, Any]:
    (statement,) = _statements(sql, **options)
    return statement


# --------------------------------------------------------------------------- order


def test_flyway_versions_compare_numerically_and_repeatables_come_last() -> None:
    names = ["R__views.sql", "V10__ten.sql", "V9__nine.sql", "V1_2__one_two.sql", "V1.1__one_one.sql", "V1__one.sql"]
    docs = _docs([(n, "SELECT 1;") for n in names])
    assert [d["file"] for d in docs] == [
        "V1__one.sql",
        "V1.1__one_one.sql",
        "V1_2__one_two.sql",
        "V9__nine.sql",
        "V10__ten.sql",
        "R__views.sql",
    ]
    assert [d["version"] for d in docs] == ["1", "1.1", "1.2", "9", "10", None]
    assert [d["order"] for d in docs] == [0, 1, 2, 3, 4, 5]
    assert docs[2]["description"] == "one_two" and {d["tool"] for d in docs} == {"flyway"}


def test_golang_migrate_orders_by_number_and_ignores_down_files() -> None:
    names = ["10_add_email.up.sql", "10_add_email.down.sql", "9_users.up.sql", "9_users.down.sql"]
    docs = _docs([(f"db/migrations/{n}", "SELECT 1;") for n in names])
    assert [(d["version"], d["description"], d["direction"]) for d in docs] == [
        ("9", "users", "up"),
        ("10", "add_email", "up"),
    ]
    assert docs[0]["tool"] == "golang-migrate"


def test_down_files_are_read_when_asked_newest_first_after_the_ups() -> None:
    names = ["9_users.down.sql", "10_email.down.sql", "10_email.up.sql", "9_users.up.sql"]
    docs = _docs([(n, "SELECT 1;") for n in names], include_down=True)
    assert [d["file"] for d in docs] == ["9_users.up.sql", "10_email.up.sql", "10_email.down.sql", "9_users.down.sql"]


def test_flyway_undo_files_count_as_down_files() -> None:
    docs = _docs([("V1__a.sql", "SELECT 1;"), ("U1__a.sql", "SELECT 1;")])
    assert [d["file"] for d in docs] == ["V1__a.sql"]


def test_numbered_files_order_numerically() -> None:
    docs = _docs([("10_x.sql", "SELECT 1;"), ("9_y.sql", "SELECT 1;"), ("0001_first.sql", "SELECT 1;")])
    assert [(d["file"], d["tool"], d["version"]) for d in docs] == [
        ("0001_first.sql", "numbered", "1"),
        ("9_y.sql", "numbered", "9"),
        ("10_x.sql", "numbered", "10"),
    ]


def test_other_names_sort_naturally() -> None:
    names = ["v1.10/a.sql", "v1.9/b.sql", "v1.2/c.sql"]
    docs = _docs([(n, "SELECT 1;") for n in names])
    assert [d["file"] for d in docs] == ["v1.2/c.sql", "v1.9/b.sql", "v1.10/a.sql"]
    assert {d["tool"] for d in docs} == {"plain"} and docs[0]["version"] is None


def test_unknown_tool_or_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown migration tool 'liquibase'"):
        load_migrations([], tool="liquibase")
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        load_migrations([], dialect="oracle")


# --------------------------------------------------------------------------- the document


def test_artifact_and_document_shape() -> None:
    artifacts, problems = load_migrations([("V2_1__add_email.sql", "ALTER TABLE users ADD COLUMN email text;\n")])
    assert problems == []
    (artifact,) = artifacts
    assert (artifact.kind, artifact.file, artifact.line) == ("migration", "V2_1__add_email.sql", 1)
    assert artifact.resource.to_json() == {
        "apiVersion": "rollguard.io/v1",
        "kind": "MigrationFile",
        "namespace": None,
        "name": "V2_1__add_email.sql",
    }
    doc = artifact.document
    assert {
        k: doc[k] for k in ("apiVersion", "kind", "metadata", "tool", "version", "description", "phase", "dialect")
    } == {
        "apiVersion": "rollguard.io/v1",
        "kind": "MigrationFile",
        "metadata": {"name": "V2_1__add_email.sql"},
        "tool": "flyway",
        "version": "2.1",
        "description": "add_email",
        "phase": "expand",
        "dialect": "postgres",
    }
    (statement,) = doc["statements"]
    assert statement["index"] == 0 and statement["observed"] is None and statement["parser"] == "sqlglot"
    assert statement["column_def"] == {
        "type": "text",
        "not_null": False,
        "has_default": False,
        "default": None,
        "default_volatile": False,
        "default_volatility": "constant",
        "generated_stored": False,
    }


def test_phase_comment_marks_a_contract_file() -> None:
    (doc,) = _docs(
        [("V3__drop.sql", "-- drop the old column\n-- rollguard: phase=contract\nALTER TABLE t DROP COLUMN c;")]
    )
    assert doc["phase"] == "contract"


def test_misspelt_directive_is_a_problem_with_its_line() -> None:
    _, problems = load_migrations([("V3__drop.sql", "SELECT 1;\n-- rollguard: phase=contracts\n")])
    assert [(p.line, p.message.split(";")[0]) for p in problems] == [
        (2, "unknown rollguard directive 'phase=contracts'")
    ]


def test_long_statement_text_is_cut_to_500_characters() -> None:
    values = ", ".join(f"({i})" for i in range(400))
    statement = _one(f"INSERT INTO t VALUES {values};")
    assert len(statement["sql"]) == 500 and statement["operation"] == "insert"


# --------------------------------------------------------------------------- operations

CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "CREATE TABLE app.Users (id bigint PRIMARY KEY, email text)",
        "create_table",
        {"table": "app.users", "columns": ["id", "email"]},
    ),
    ('CREATE TABLE IF NOT EXISTS "Users" (id int)', "create_table", {"table": "Users", "if_exists": True}),
    ("DROP TABLE IF EXISTS users CASCADE", "drop_table", {"table": "users", "cascade": True, "if_exists": True}),
    ("DROP SCHEMA legacy CASCADE", "drop_schema", {"object": "legacy", "cascade": True}),
    ("DROP DATABASE app", "drop_database", {"object": "app"}),
    ("TRUNCATE TABLE audit CASCADE", "truncate", {"table": "audit", "cascade": True}),
    ("ALTER TABLE users RENAME TO people", "rename_table", {"table": "users", "new_name": "people"}),
    ("ALTER TABLE users RENAME COLUMN name TO full_name", "rename_column", {"column": "name", "new_name": "full_name"}),
    (
        "ALTER TABLE users ADD COLUMN IF NOT EXISTS email text NOT NULL DEFAULT ''",
        "add_column",
        {"column": "email", "if_exists": True},
    ),
    ("ALTER TABLE users DROP COLUMN email CASCADE", "drop_column", {"column": "email", "cascade": True}),
    (
        "ALTER TABLE users ALTER COLUMN email TYPE varchar(255) USING email::varchar",
        "alter_column_type",
        {"column": "email", "type_change": {"to": "varchar(255)", "using": True}},
    ),
    (
        "ALTER TABLE users ALTER COLUMN id SET DATA TYPE bigint",
        "alter_column_type",
        {"type_change": {"to": "bigint", "using": False}},
    ),
    ("ALTER TABLE users ALTER COLUMN email SET NOT NULL", "set_not_null", {"table": "users", "column": "email"}),
    ("ALTER TABLE users ALTER COLUMN email DROP NOT NULL", "drop_not_null", {"column": "email"}),
    ("ALTER TABLE users ALTER COLUMN created SET DEFAULT now()", "set_default", {"column": "created"}),
    ("ALTER TABLE users ALTER COLUMN created DROP DEFAULT", "drop_default", {"column": "created"}),
    (
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
        "add_constraint",
        {
            "columns": ["user_id"],
            "constraint": {
                "type": "foreign_key",
                "name": "orders_user_fk",
                "not_valid": True,
                "using_index": None,
                "expression": None,
            },
        },
    ),
    (
        "ALTER TABLE users ADD CONSTRAINT email_present CHECK (email IS NOT NULL) NOT VALID",
        "add_constraint",
        {
            "constraint": {
                "type": "check",
                "name": "email_present",
                "not_valid": True,
                "using_index": None,
                "expression": "email IS NOT NULL",
            }
        },
    ),
    (
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx",
        "add_constraint",
        {
            "parser": "command",
            "constraint": {
                "type": "unique",
                "name": "users_email_key",
                "not_valid": False,
                "using_index": "users_email_idx",
                "expression": None,
            },
        },
    ),
    ("ALTER TABLE users ADD PRIMARY KEY (id)", "add_constraint", {"columns": ["id"]}),
    ("ALTER TABLE rooms ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =)", "add_constraint", {}),
    (
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk",
        "validate_constraint",
        {"table": "orders", "parser": "command"},
    ),
    ("ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_user_fk", "drop_constraint", {"if_exists": True}),
    (
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users USING btree (email, lower(name))",
        "create_index",
        {
            "table": "users",
            "columns": ["email", "LOWER(name)"],
            "index_def": {"name": "users_email_idx", "unique": True, "method": "btree"},
            "concurrently": True,
            "if_exists": True,
        },
    ),
    (
        "CREATE INDEX CONCURRENTLY idx ON ONLY app.events (created_at)",
        "create_index",
        {"table": "app.events", "columns": ["created_at"], "concurrently": True, "parser": "command"},
    ),
    (
        "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx",
        "drop_index",
        {"object": "users_email_idx", "concurrently": True},
    ),
    ("REINDEX INDEX CONCURRENTLY users_email_idx", "reindex", {"object": "users_email_idx", "concurrently": True}),
    ("REINDEX (CONCURRENTLY false) TABLE users", "reindex", {"table": "users", "concurrently": False}),
    (
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'ok'",
        "alter_type_add_value",
        {"object": "mood", "parser": "command"},
    ),
    ("CREATE TYPE mood AS ENUM ('sad', 'ok')", "create_type", {"object": "mood"}),
    (
        "CREATE OR REPLACE VIEW active_users AS SELECT * FROM users WHERE active",
        "create_view",
        {"object": "active_users"},
    ),
    ("DROP VIEW IF EXISTS active_users", "drop_view", {"object": "active_users", "if_exists": True}),
    (
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$ BEGIN NEW.updated := now(); RETURN NEW; END $$ LANGUAGE plpgsql",
        "create_function",
        {"object": "touch", "parser": "command"},
    ),
    ('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"', "create_extension", {"object": "uuid-ossp", "if_exists": True}),
    ("UPDATE users SET active = true WHERE id = 1", "update", {"table": "users", "where": True, "is_ddl": False}),
    ("UPDATE users SET active = true", "update", {"where": False}),
    ("DELETE FROM sessions", "delete", {"table": "sessions", "where": False}),
    ("INSERT INTO role (code, name) VALUES ('A', 'admin')", "insert", {"table": "role"}),
    ("SELECT count(*) FROM users", "select", {}),
    (
        "SET lock_timeout = '5s'",
        "set",
        {"setting": {"name": "lock_timeout", "value": "5s", "local": False}, "is_ddl": False},
    ),
    (
        "SET search_path = app, public",
        "set",
        {"setting": {"name": "search_path", "value": "app, public", "local": False}},
    ),
    ("RESET statement_timeout", "set", {"setting": {"name": "statement_timeout", "value": None, "local": False}}),
    ("BEGIN", "begin", {}),
    ("START TRANSACTION", "begin", {}),
    ("COMMIT", "commit", {}),
    ("END", "commit", {}),
    ("ROLLBACK", "rollback", {}),
    ("COMMENT ON COLUMN users.email IS 'login'", "comment", {"table": "users", "column": "email"}),
    ("GRANT SELECT ON users TO reporting", "grant", {"table": "users"}),
    ("REVOKE SELECT ON users FROM reporting", "revoke", {"table": "users"}),
    ("DO $$ BEGIN ALTER TABLE users ADD COLUMN x int; END $$", "do_block", {"is_ddl": True, "parser": "command"}),
    ("DO $body$ BEGIN PERFORM 1; END $body$", "do_block", {"is_ddl": False}),
    (
        "CREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW EXECUTE PROCEDURE touch()",
        "create_trigger",
        {"table": "users", "object": "t"},
    ),
    ("DROP TRIGGER IF EXISTS t ON app.users", "drop_trigger", {"table": "app.users", "if_exists": True}),
    ("CREATE SEQUENCE order_numbers START 1000", "create_sequence", {"object": "order_numbers"}),
    ("ALTER SEQUENCE order_numbers RESTART WITH 1", "alter_sequence", {"object": "order_numbers"}),
    ("ALTER TABLE users OWNER TO app", "unknown", {"table": "users", "statement_kind": "alter table owner to app"}),
    ("VACUUM users", "unknown", {"statement_kind": "vacuum"}),
    ("SAVEPOINT before_backfill", "unknown", {}),
]


@pytest.mark.parametrize(("sql", "operation", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_statement_is_classified(sql: str, operation: str, expected: dict[str, Any]) -> None:
    statement = _one(sql + ";")
    assert statement["operation"] == operation
    assert {k: statement[k] for k in expected} == expected


def test_every_listed_operation_has_a_case() -> None:
    assert {c[1] for c in CASES} == set(OPERATIONS)


def test_multi_action_alter_table_gives_one_entry_per_action() -> None:
    statements = _statements(
        "ALTER TABLE users ADD COLUMN a int, ALTER COLUMN b SET NOT NULL, ADD CONSTRAINT c CHECK (a > 0) NOT VALID;"
    )
    assert [(s["operation"], s["part"], s["index"], s["line"]) for s in statements] == [
        ("add_column", 0, 0, 1),
        ("set_not_null", 1, 1, 1),
        ("add_constraint", 2, 2, 1),
    ]
    assert {s["table"] for s in statements} == {"users"}


def test_command_alter_table_actions_are_read_one_by_one() -> None:
    statements = _statements(
        "ALTER TABLE t VALIDATE CONSTRAINT a, ADD COLUMN z int, ALTER COLUMN q SET STATISTICS 100;"
    )
    assert [(s["operation"], s["parser"]) for s in statements] == [
        ("validate_constraint", "command"),
        ("add_column", "command"),
        ("unknown", "unknown"),
    ]


def test_column_level_constraints_are_reported_on_add_column() -> None:
    statement = _one("ALTER TABLE orders ADD COLUMN user_id bigint CONSTRAINT orders_user_fk REFERENCES users (id);")
    assert statement["constraint"]["type"] == "foreign_key" and statement["constraint"]["name"] == "orders_user_fk"


def test_quoted_names_keep_their_case_and_unquoted_are_folded() -> None:
    statement = _one('ALTER TABLE App."UserAccounts" ADD COLUMN "Email" text;')
    assert (statement["table"], statement["column"]) == ("app.UserAccounts", "Email")


# --------------------------------------------------------------------------- volatility

VOLATILITY: list[tuple[str, str, bool]] = [
    ("0", "constant", False),
    ("'draft'", "constant", False),
    ("2 + 2", "constant", False),
    ("'{}'::jsonb", "stable", False),
    ("now()", "stable", False),
    ("current_timestamp", "stable", False),
    ("transaction_timestamp()", "stable", False),
    ("now() - interval '1 day'", "stable", False),
    ("random()", "volatile", True),
    ("gen_random_uuid()", "volatile", True),
    ("uuid_generate_v4()", "volatile", True),
    ("clock_timestamp()", "volatile", True),
    ("timeofday()", "volatile", True),
    ("nextval('orders_id_seq'::regclass)", "volatile", True),
    ("txid_current()", "volatile", True),
    ("floor(random() * 10)", "volatile", True),
    ("my_function()", "unknown", True),
]


@pytest.mark.parametrize(("default", "volatility", "volatile"), VOLATILITY)
def test_default_volatility(default: str, volatility: str, volatile: bool) -> None:
    column_def = _one(f"ALTER TABLE t ADD COLUMN c text DEFAULT {default};")["column_def"]
    assert (column_def["has_default"], column_def["default_volatility"], column_def["default_volatile"]) == (
        True,
        volatility,
        volatile,
    )


@pytest.mark.parametrize(
    "column", ["id serial", "id bigserial", "id bigint GENERATED ALWAYS AS IDENTITY", "id bigint DEFAULT random()"]
)
def test_sequence_filled_columns_count_as_volatile_defaults(column: str) -> None:
    column_def = _one(f"ALTER TABLE t ADD COLUMN {column};")["column_def"]
    assert column_def["has_default"] and column_def["default_volatile"]


def test_generated_stored_column() -> None:
    column_def = _one("ALTER TABLE foo ADD COLUMN bar numeric GENERATED ALWAYS AS (a + b) STORED;")["column_def"]
    assert column_def["generated_stored"] is True and column_def["has_default"] is False


def test_set_default_reports_volatility() -> None:
    statement = _one("ALTER TABLE t ALTER COLUMN id SET DEFAULT gen_random_uuid();")
    assert statement["operation"] == "set_default" and statement["column_def"]["default_volatile"] is True


# --------------------------------------------------------------------------- lines


def test_lines_point_at_statement_starts_past_comments_and_quotes() -> None:
    text = (
        "-- header; with a semicolon\n"  # 1
        "/* block; /* nested; */ still comment; */\n"  # 2
        "CREATE TABLE a (\n"  # 3
        "  note text DEFAULT 'semi;colon'\n"  # 4
        ");\n"  # 5
        "\n"  # 6
        "CREATE FUNCTION f() RETURNS int AS $fn$\n"  # 7
        "BEGIN\n"  # 8
        "  RETURN 1; -- inside\n"  # 9
        "END\n"  # 10
        "$fn$ LANGUAGE plpgsql;   SELECT 'it''s'; SELECT E'esc\\';'\n"  # 11
        ";\n"  # 12
        '  UPDATE "we;ird" SET a = 1 -- trailing\n'  # 13
        "  WHERE b = 2;\n"  # 14
        "DO $$ BEGIN RAISE NOTICE 'it''s; $'; END $$;\n"  # 15 (quotes and `;` inside dollar quoting are just text)
    )
    statements = _statements(text)
    assert [(s["line"], s["operation"]) for s in statements] == [
        (3, "create_table"),
        (7, "create_function"),
        (11, "select"),
        (11, "select"),
        (13, "update"),
        (15, "do_block"),
    ]
    assert statements[4]["table"] == "we;ird" and statements[4]["where"] is True


def test_split_statements_keeps_comments_with_lines() -> None:
    pieces, comments = split_statements("SELECT 1; -- one\n/* two */ SELECT 2")
    assert pieces == [(1, "SELECT 1"), (2, "SELECT 2")]
    assert comments == [(1, "-- one"), (2, "/* two */")]


# Each form that never closes, in each dialect that has it: (dialect, opening text, what the message names).
UNTERMINATED = [
    ("postgres", "UPDATE t SET note = 'it;s", "the string literal '...' opened here is never closed"),
    ("postgres", 'SELECT "odd;name', 'the quoted identifier "..." opened here is never closed'),
    ("postgres", "DO $body$ BEGIN", "the dollar-quoted string $body$ ... $body$ opened here is never closed"),
    ("postgres", "SELECT 1 /* note; /* nested */", "the comment /* ... */ opened here is never closed"),
    ("mysql", "UPDATE t SET note = 'it;s", "the string literal '...' opened here is never closed"),
    ("mysql", 'UPDATE t SET note = "it;s', 'the string literal "..." opened here is never closed'),
    ("mysql", "SELECT `odd;name", "the quoted identifier `...` opened here is never closed"),
    ("mysql", "SELECT 1 /* note;", "the comment /* ... */ opened here is never closed"),
]


@pytest.mark.parametrize(("dialect", "opening", "what"), UNTERMINATED)
def test_sql_that_never_ends_is_a_problem_at_its_line_and_what_came_before_is_judged(
    dialect: str, opening: str, what: str
) -> None:
    text = f"ALTER TABLE t DROP COLUMN a;\n\nSELECT 1;\n{opening}\nmore;\nALTER TABLE t DROP COLUMN b;\n"
    artifacts, problems = load_migrations([("V1__x.sql", text)], dialect=dialect)
    statements = artifacts[0].document["statements"]
    assert [(s["line"], s["operation"], s["column"]) for s in statements] == [
        (1, "drop_column", "a"),
        (3, "select", None),
    ]
    (problem,) = problems
    assert (problem.file, problem.line) == ("V1__x.sql", 4)
    assert problem.message.startswith(what)
    assert "the rest of the file was not read or judged" in problem.message and "close it with" in problem.message
    found = find_unterminated(text, dialect=dialect)
    assert found is not None and found.line == 4
    pieces, _ = split_statements(text, dialect=dialect)
    assert [line for line, _ in pieces] == [1, 3]


def test_the_line_is_where_the_literal_opens_not_where_its_statement_starts() -> None:
    text = "SELECT 1;\nINSERT INTO t (a, b)\nVALUES (1,\n  'never closed);\nDROP TABLE t;\n"
    _, problems = load_migrations([("V1__x.sql", text)])
    assert [(p.line, p.message.split(" opened")[0]) for p in problems] == [(4, "the string literal '...'")]


def test_closed_quotes_and_comments_are_no_problem() -> None:
    text = "SELECT 'a''b', E'c\\'d', \"e\"\"f\", $x$ $y$ ' $x$; /* /* nested */ */ SELECT 1 -- 'open\n"
    assert find_unterminated(text) is None
    _, problems = load_migrations([("V1__x.sql", text)])
    assert problems == []


# --------------------------------------------------------------------------- transactions


def test_flyway_wraps_each_file_in_one_transaction() -> None:
    (doc,) = _docs([("V1__x.sql", "CREATE TABLE a (id int);\nCREATE INDEX i ON a (id);")])
    assert doc["transactional"] is True
    assert [(s["in_transaction"], s["transaction"]) for s in doc["statements"]] == [(True, 0), (True, 0)]


def test_flyway_script_config_turns_the_transaction_off() -> None:
    (doc,) = _docs([("V1__x.sql", "-- flyway:executeInTransaction=false\nCREATE INDEX i ON a (id);")])
    assert doc["transactional"] is False and doc["statements"][0]["in_transaction"] is False


def test_flyway_runs_concurrent_index_files_outside_a_transaction() -> None:
    (doc,) = _docs([("V1__x.sql", "CREATE INDEX CONCURRENTLY i ON a (id);")])
    assert doc["transactional"] is False and doc["statements"][0]["transaction"] is None


def test_rollguard_directive_turns_the_transaction_off_or_on() -> None:
    off = _docs([("V1__x.sql", "-- rollguard: transaction=false\nCREATE INDEX i ON a (id);")])[0]
    on = _docs([("1_x.up.sql", "-- rollguard: transaction=true\nCREATE INDEX i ON a (id);")])[0]
    assert (off["transactional"], on["transactional"]) == (False, True)


def test_golang_migrate_files_are_not_wrapped() -> None:
    (doc,) = _docs([("1_x.up.sql", "CREATE TABLE a (id int);\nCREATE INDEX i ON a (id);")])
    assert doc["transactional"] is False
    assert [s["in_transaction"] for s in doc["statements"]] == [False, False]


def test_explicit_begin_commit_blocks_count() -> None:
    text = "BEGIN;\nALTER TABLE a ADD COLUMN b int;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON a (b);\nBEGIN;\nUPDATE a SET b = 1;\nCOMMIT;"
    (doc,) = _docs([("1_x.up.sql", text)])
    assert [(s["operation"], s["transaction"]) for s in doc["statements"]] == [
        ("begin", 0),
        ("add_column", 0),
        ("commit", 0),
        ("create_index", None),
        ("begin", 1),
        ("update", 1),
        ("commit", 1),
    ]
    assert doc["transactional"] is False


def test_golang_migrate_file_wrapped_in_begin_commit_is_transactional() -> None:
    (doc,) = _docs([("1_x.up.sql", "BEGIN;\nALTER TABLE a ADD COLUMN b int;\nCOMMIT;\n")])
    assert doc["transactional"] is True


# --------------------------------------------------------------------------- timeouts


def test_session_set_lasts_to_the_end_of_the_file() -> None:
    statements = _statements(
        "SET lock_timeout = '2s';\nALTER TABLE a ADD COLUMN b int;\nSET statement_timeout TO '1min';\nSELECT 1;"
    )
    assert [(s["lock_timeout"], s["statement_timeout"]) for s in statements] == [
        (None, None),
        ("2s", None),
        ("2s", None),
        ("2s", "1min"),
    ]


def test_set_local_ends_with_its_transaction() -> None:
    text = (
        "BEGIN;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE a ADD COLUMN b int;\nCOMMIT;\n"
        "ALTER TABLE a ADD COLUMN c int;\n"
        "SET LOCAL lock_timeout = '9s';\nALTER TABLE a ADD COLUMN d int;\n"  # outside a transaction: no effect
    )
    statements = _statements(text, name="1_x.up.sql")
    assert [(s["operation"], s["lock_timeout"]) for s in statements] == [
        ("begin", None),
        ("set", None),
        ("add_column", "1s"),
        ("commit", "1s"),
        ("add_column", None),
        ("set", None),
        ("add_column", None),
    ]


def test_set_local_in_a_wrapped_file_holds_for_the_file() -> None:
    statements = _statements("SET LOCAL lock_timeout = '3s';\nALTER TABLE a ADD COLUMN b int;")
    assert statements[1]["lock_timeout"] == "3s"


def test_zero_or_default_switches_the_timeout_off() -> None:
    statements = _statements(
        "SET lock_timeout = '5s';\nSET lock_timeout = 0;\nSELECT 1;\nSET lock_timeout = '5s';\nRESET lock_timeout;\nSELECT 2;"
    )
    assert [statements[2]["lock_timeout"], statements[5]["lock_timeout"]] == [None, None]


def test_custom_settings_are_not_the_server_timeouts() -> None:
    statements = _statements("SET app.lock_timeout = '1s';\nSELECT 1;")
    assert statements[0]["setting"]["name"] == "app.lock_timeout" and statements[1]["lock_timeout"] is None


# --------------------------------------------------------------------------- new tables


NEW_TABLE_FILES = [
    ("V1__create.sql", "CREATE TABLE public.events (id int);\nCREATE INDEX e_id ON events (id);"),
    (
        "V2__more.sql",
        "ALTER TABLE events ADD COLUMN at timestamptz NOT NULL;\nALTER TABLE events RENAME TO audit_events;",
    ),
    ("V3__index.sql", "CREATE INDEX a_at ON audit_events (at);\nCREATE INDEX u_id ON users (id);"),
    ("V4__drop.sql", "DROP TABLE audit_events;\nCREATE INDEX again ON audit_events (id);"),
]


def test_table_is_new_across_pending_files_and_renames() -> None:
    docs = _docs(NEW_TABLE_FILES, pending=PendingFrom("1"))
    assert [(d["pending"], d["pending_by"]) for d in docs] == [(True, "pending_from")] * 4
    flags = [[(s["operation"], s["table_is_new"]) for s in d["statements"]] for d in docs]
    assert flags == [
        [("create_table", False), ("create_index", True)],
        [("add_column", True), ("rename_table", True)],
        [("create_index", True), ("create_index", False)],
        [("drop_table", True), ("create_index", False)],
    ]
    created = [[s["table_created_in"] for s in d["statements"]] for d in docs]
    by_v1 = {"file": "V1__create.sql", "pending": True}
    assert created == [[None, by_v1], [by_v1, by_v1], [by_v1, None], [by_v1, None]]


def test_without_pending_files_only_the_same_file_creates_new_tables() -> None:
    docs = _docs(NEW_TABLE_FILES)
    assert [(d["pending"], d["pending_by"]) for d in docs] == [(None, None)] * 4
    flags = [[(s["operation"], s["table_is_new"]) for s in d["statements"]] for d in docs]
    assert flags == [
        [("create_table", False), ("create_index", True)],
        [("add_column", False), ("rename_table", False)],
        [("create_index", False), ("create_index", False)],
        [("drop_table", False), ("create_index", False)],
    ]
    # The file that created the table is named, so a policy can say why it is judged as existing.
    assert docs[2]["statements"][0]["table_created_in"] == {"file": "V1__create.sql", "pending": None}


def test_tables_of_files_that_ran_already_are_not_new() -> None:
    docs = _docs(NEW_TABLE_FILES[:2], pending=PendingFrom("2"))
    assert [d["pending"] for d in docs] == [False, True]
    assert [s["table_is_new"] for s in docs[1]["statements"]] == [False, False]
    assert docs[1]["statements"][0]["table_created_in"] == {"file": "V1__create.sql", "pending": False}


# --------------------------------------------------------------------------- alembic, django, mysql

ALEMBIC = """BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 1975ea83b712

CREATE TABLE account (
    id SERIAL NOT NULL,
    name VARCHAR(50) NOT NULL,
    PRIMARY KEY (id)
);

INSERT INTO alembic_version (version_num) VALUES ('1975ea83b712') RETURNING alembic_version.version_num;

-- Running upgrade 1975ea83b712 -> ae1027a6acf

ALTER TABLE account ADD COLUMN last_transaction_date TIMESTAMP WITHOUT TIME ZONE;

UPDATE alembic_version SET version_num='ae1027a6acf' WHERE alembic_version.version_num = '1975ea83b712';

COMMIT;

"""


def test_alembic_offline_sql_keeps_revisions_and_its_transaction() -> None:
    for tool in ("alembic", "auto"):
        (doc,) = _docs([("upgrade.sql", ALEMBIC)], tool=tool)
        assert doc["tool"] == "alembic" and doc["version"] == "ae1027a6acf" and doc["transactional"] is True
        rows = [(s["line"], s["operation"], s["revision"], s["transaction"]) for s in doc["statements"]]
        assert rows == [
            (1, "begin", None, 0),
            (3, "create_table", None, 0),
            (10, "create_table", "1975ea83b712", 0),
            (16, "insert", "1975ea83b712", 0),
            (20, "add_column", "ae1027a6acf", 0),
            (22, "update", "ae1027a6acf", 0),
            (24, "commit", "ae1027a6acf", 0),
        ]
        assert doc["statements"][4]["table_is_new"] is True


def test_alembic_transaction_per_migration_is_not_one_transaction() -> None:
    text = "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\n"
    (doc,) = _docs([("up.sql", text)], tool="alembic")
    assert doc["transactional"] is False
    assert [s["transaction"] for s in doc["statements"]] == [0, 0, 0, 1, 1, 1]


DJANGO = """BEGIN;
--
-- Create model Bar
--
CREATE TABLE "core_bar" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "alpha" varchar(100) NOT NULL);
--
-- Add field bar to foo
--
ALTER TABLE "core_foo" ADD COLUMN "bar_id" bigint NULL CONSTRAINT "core_foo_bar_id_fk" REFERENCES "core_bar"("id") DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS "core_foo_bar_id_fk" IMMEDIATE;
CREATE INDEX "core_foo_bar_id_idx" ON "core_foo" ("bar_id");
COMMIT;
"""


def test_django_sqlmigrate_output() -> None:
    (doc,) = _docs([("0002_bar.sql", DJANGO)], tool="django")
    assert doc["tool"] == "django" and doc["transactional"] is True
    rows = [(s["line"], s["operation"], s["table"]) for s in doc["statements"]]
    assert rows == [
        (1, "begin", None),
        (5, "create_table", "core_bar"),
        (9, "add_column", "core_foo"),
        (9, "set", None),
        (10, "create_index", "core_foo"),
        (11, "commit", None),
    ]
    assert doc["statements"][2]["constraint"]["type"] == "foreign_key"


def test_mysql_basics() -> None:
    text = (
        "SET SESSION lock_wait_timeout = 5;\n"
        "START TRANSACTION;\n"
        "ALTER TABLE `users` ADD COLUMN `email` varchar(255) NOT NULL DEFAULT '', ALGORITHM=INSTANT;\n"
        "ALTER TABLE users MODIFY COLUMN name varchar(100) NOT NULL;\n"
        "UPDATE users SET email = 'a\\'b;c' WHERE id = 1; # a MySQL comment; with semicolon\n"
        "COMMIT;\n"
    )
    (doc,) = _docs([("V1__mysql.sql", text)], dialect="mysql")
    rows = [(s["line"], s["operation"], s["table"], s["in_transaction"], s["lock_timeout"]) for s in doc["statements"]]
    assert rows == [
        (1, "set", None, True, None),
        (2, "begin", None, True, "5"),
        (3, "add_column", "users", False, "5"),  # MySQL commits around DDL
        (4, "alter_column_type", "users", False, "5"),
        (5, "update", "users", True, "5"),
        (6, "commit", None, True, "5"),
    ]
    assert doc["dialect"] == "mysql" and doc["transactional"] is False
    assert doc["statements"][3]["type_change"] == {"to": "varchar(100)", "using": False}


def test_mysql_delimiter_blocks() -> None:
    text = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END //\nDELIMITER ;\nSELECT 3;\n"
    statements = _statements(text, dialect="mysql")
    assert [(s["line"], s["operation"]) for s in statements] == [(2, "create_function"), (4, "select")]


# --------------------------------------------------------------------------- bad input


def test_unparseable_statement_is_a_problem_and_the_rest_is_read() -> None:
    sources = [
        ("V1__ok.sql", "CREATE TABLE a (id int);"),
        ("V2__bad.sql", "ALTER TABLE a ADD COLUMN b int;\n\nCREATE TABLE (;\nALTER TABLE a DROP COLUMN b;"),
    ]
    artifacts, problems = load_migrations(sources)
    (problem,) = problems
    assert (problem.file, problem.line) == ("V2__bad.sql", 3)
    assert problem.message.startswith("cannot parse SQL: ")
    assert "rollguard: unparseable=unknown" in problem.message
    operations = [s["operation"] for a in artifacts for s in a.document["statements"]]
    assert operations == ["create_table", "add_column", "unknown", "drop_column"]
    assert artifacts[1].document["statements"][1]["parser"] == "unknown"


def test_unparseable_can_be_accepted_as_unknown() -> None:
    artifacts, problems = load_migrations([("V2__bad.sql", "-- rollguard: unparseable=unknown\nCREATE TABLE (;")])
    assert problems == [] and artifacts[0].document["statements"][0]["operation"] == "unknown"


def test_byte_order_mark_is_ignored() -> None:
    assert _one("\ufeffCREATE TABLE a (id int);")["operation"] == "create_table"


def test_binary_text_is_refused_and_other_files_still_read() -> None:
    artifacts, problems = load_migrations([("V1__a.sql", "SELECT 1;"), ("V2__b.sql", "SEL\x00ECT")])
    assert [a.file for a in artifacts] == ["V1__a.sql"]
    assert problems[0].file == "V2__b.sql" and "binary file" in problems[0].message


def test_read_sql_file_refuses_binary_and_non_utf8(tmp_path: Path) -> None:
    good = tmp_path / "V1__good.sql"
    good.write_bytes(b"\xef\xbb\xbfSELECT 'caf\xc3\xa9';\n")
    binary = tmp_path / "V2__bin.sql"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    latin1 = tmp_path / "V3__latin.sql"
    latin1.write_bytes(b"SELECT 1;\nSELECT 'caf\xe9';\n")
    assert read_sql_file(good) == "SELECT 'café';\n"
    refused = read_sql_file(binary)
    assert not isinstance(refused, str) and "binary file" in refused.message
    bad = read_sql_file(latin1)
    assert not isinstance(bad, str) and bad.line == 2 and "not UTF-8" in bad.message
    missing = read_sql_file(tmp_path / "nope.sql")
    assert not isinstance(missing, str) and "not found" in missing.message


SQL_TOKENS = [*"abcdeSELECTALTERDROPBEGINCOMMIT ();,'\"$-*/\n\\#`0123456789=", "$$", "--", "/*", "*/", "E'", "$x$"]
SQLISH = st.lists(st.sampled_from(SQL_TOKENS), max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(SQLISH, st.text(max_size=200)), dialect=st.sampled_from(["postgres", "mysql"]))
def test_random_text_never_crashes_the_loader(text: str, dialect: str) -> None:
    artifacts, problems = load_migrations([("V1__fuzz.sql", text)], dialect=dialect)
    assert len(artifacts) + len(problems) >= 1
    for artifact in artifacts:
        lines = text.count("\n") + 1
        for statement in artifact.document["statements"]:
            assert statement["operation"] in OPERATIONS
            assert 1 <= statement["line"] <= lines


@settings(max_examples=300, deadline=None)
@given(text=SQLISH, dialect=st.sampled_from(["postgres", "mysql"]))
def test_sql_that_never_ends_is_found_where_the_statements_stop(text: str, dialect: str) -> None:
    found = find_unterminated(text, dialect=dialect)
    pieces, _ = split_statements(text, dialect=dialect)
    if found is None:
        return
    assert 1 <= found.line <= text.count("\n") + 1
    # No statement starts after the line where it opens: nothing after it is read.
    assert all(line <= found.line for line, _ in pieces)


# --------------------------------------------------------------------------- corpus


def _load_tree(root: Path) -> tuple[list[dict[str, Any]], list[Any], dict[str, str]]:
    files = sorted(root.rglob("*.sql"))
    texts = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in files}
    artifacts, problems = load_migrations(list(texts.items()))
    return [dict(a.document) for a in artifacts], problems, texts


def _check_lines(docs: list[dict[str, Any]], texts: dict[str, str]) -> None:
    for doc in docs:
        lines = texts[doc["file"]].splitlines()
        for statement in doc["statements"]:
            first = statement["sql"].splitlines()[0]
            assert first in lines[statement["line"] - 1], (doc["file"], statement["line"])


@pytest.mark.parametrize("project", ["harbor", "temporal"])
def test_corpus_projects_load_and_classify(corpus: Path, project: str) -> None:
    docs, problems, texts = _load_tree(corpus / "postgres-migrations" / project)
    assert problems == [] and len(docs) == len(texts)
    statements = [s for d in docs for s in d["statements"]]
    assert all(s["operation"] in OPERATIONS for s in statements)
    unknown = Counter(s["statement_kind"] for s in statements if s["operation"] == "unknown")
    print(f"{project}: {len(statements)} statements, {sum(unknown.values())} unknown {dict(unknown)}")
    assert sum(unknown.values()) / len(statements) < 0.01
    _check_lines(docs, texts)


def test_harbor_is_read_in_golang_migrate_order(corpus: Path) -> None:
    docs, _, _ = _load_tree(corpus / "postgres-migrations" / "harbor")
    versions = [int(d["version"]) for d in docs]
    assert versions == sorted(versions) and {d["tool"] for d in docs} == {"golang-migrate"}
    assert not any(d["transactional"] for d in docs)


def test_squawk_rule_cases_load(corpus: Path) -> None:
    root = corpus / "postgres-migrations" / "squawk-rule-tests"
    files = sorted(root.rglob("*.sql"))
    assert files
    counts: Counter[str] = Counter()
    for path in files:
        text = path.read_text(encoding="utf-8")
        artifacts, problems = load_migrations([(path.name, text)])
        assert problems == [], path
        docs = [dict(a.document) for a in artifacts]
        _check_lines(docs, {path.name: text})
        counts.update(s["operation"] for d in docs for s in d["statements"])
    assert set(counts) <= set(OPERATIONS)
    print(f"squawk rule tests: {sum(counts.values())} statements, {counts['unknown']} unknown")
    assert counts["unknown"] / sum(counts.values()) < 0.06
