package rollguard.migration.lock_timeout_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.lock_timeout

add(fields) := t.stmt(1, object.union({"operation": "add_column", "table": "users", "column": "nickname", "is_ddl": true, "line": 4}, fields))

test_ddl_without_lock_timeout_is_reported if {
	v := lock_timeout.violation with input as t.judge(t.migration_file([add({})]), {})
	v == {{
		"msg": `ADD COLUMN runs on table "users" without a lock_timeout; while it waits for its lock, every later query on the table queues behind it`,
		"details": {"line": 4, "statement": 1, "operation": "add_column", "table": "users", "lock_timeout": null},
	}}
}

test_lock_timeout_in_force_passes if {
	count(lock_timeout.violation) == 0 with input as t.judge(t.migration_file([add({"lock_timeout": "5s"})]), {})
}

test_lock_timeout_of_zero_is_no_timeout if {
	v := lock_timeout.violation with input as t.judge(t.migration_file([add({"lock_timeout": "0"})]), {})
	{x.details.lock_timeout | some x in v} == {"0"}
}

test_statement_timeout_only_when_required if {
	s := add({"lock_timeout": "5s"})
	count(lock_timeout.violation) == 0 with input as t.judge(t.migration_file([s]), {})
	v := lock_timeout.violation with input as t.judge(t.migration_file([s]), {"require_statement_timeout": true})
	v == {{
		"msg": `ADD COLUMN runs on table "users" without a statement_timeout`,
		"details": {"line": 4, "statement": 1, "operation": "add_column", "table": "users", "statement_timeout": null},
	}}
}

test_new_tables_concurrent_and_tableless_statements_pass if {
	doc := t.migration_file([
		t.stmt(0, {"operation": "create_table", "table": "audit", "is_ddl": true, "table_is_new": true}),
		t.stmt(1, {"operation": "create_index", "table": "audit", "is_ddl": true, "table_is_new": true}),
		t.stmt(2, {"operation": "create_index", "table": "users", "is_ddl": true, "concurrently": true}),
		t.stmt(3, {"operation": "create_type", "table": "mood", "is_ddl": true}),
		t.stmt(4, {"operation": "create_function", "is_ddl": true}),
		t.stmt(5, {"operation": "update", "table": "users", "where": true}),
	])
	count(lock_timeout.violation) == 0 with input as t.judge(doc, {})
}

test_drop_index_without_table_is_judged if {
	v := lock_timeout.violation with input as t.judge(t.migration_file([t.stmt(0, {"operation": "drop_index", "is_ddl": true})]), {})
	{x.msg | some x in v} == {"DROP INDEX runs on the index's table without a lock_timeout; while it waits for its lock, every later query on the table queues behind it"}
}

test_explicit_table_locks_are_judged if {
	doc := t.migration_file([
		t.stmt(0, {"operation": "unknown", "statement_kind": "lock", "sql": "LOCK TABLE users IN SHARE MODE"}),
		t.stmt(1, {"operation": "unknown", "statement_kind": "vacuum", "lock_timeout": "2s"}),
	])
	v := lock_timeout.violation with input as t.judge(doc, {})
	v == {{
		"msg": "LOCK runs on a table without a lock_timeout; while it waits for its lock, every later query on the table queues behind it",
		"details": {"line": 1, "statement": 0, "operation": "unknown", "table": null, "lock_timeout": null},
	}}
}
