package rollguard.migration.observed_lock_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.observed_lock

observed(locks, ms, existed) := t.stmt(0, {
	"operation": "alter_column_type", "table": "users", "column": "id", "is_ddl": true, "line": 6,
	"observed": {"locks": locks, "rewrote": [], "ms": ms, "table_existed": existed},
})

exclusive := {"relation": "users", "mode": "AccessExclusiveLock"}

test_access_exclusive_on_an_existing_table_is_reported if {
	v := observed_lock.violation with input as t.judge(t.migration_file([observed([exclusive, {"relation": "users_pkey", "mode": "ShareLock"}], 812.5, true)]), {})
	v == {{
		"msg": `in a real run, ALTER COLUMN TYPE held an ACCESS EXCLUSIVE lock on existing table "users", blocking its reads and writes for 812.5 ms`,
		"details": {
			"line": 6, "statement": 0, "operation": "alter_column_type", "table": "users",
			"relation": "users", "mode": "AccessExclusiveLock", "ms": 812.5,
		},
	}}
}

test_weaker_locks_new_tables_and_unobserved_statements_pass if {
	count(observed_lock.violation) == 0 with input as t.judge(t.migration_file([observed([{"relation": "users", "mode": "ShareUpdateExclusiveLock"}], 5, true)]), {})
	count(observed_lock.violation) == 0 with input as t.judge(t.migration_file([observed([exclusive], 5, false)]), {})
	count(observed_lock.violation) == 0 with input as t.judge(t.migration_file([t.stmt(0, {"operation": "add_column", "table": "users"})]), {})
}

test_relations_created_by_the_change_pass if {
	create := t.stmt(0, {"operation": "create_table", "table": "audit", "table_is_new": true})
	s := object.union(observed([{"relation": "audit", "mode": "AccessExclusiveLock"}], 1, true), {"index": 1})
	count(observed_lock.violation) == 0 with input as t.judge(t.migration_file([create, s]), {})
}

test_min_ms_parameter if {
	doc := t.migration_file([observed([exclusive], 3, true)])
	count(observed_lock.violation) == 0 with input as t.judge(doc, {"min_ms": 50})
	count(observed_lock.violation) == 1 with input as t.judge(doc, {"min_ms": 2})
}
