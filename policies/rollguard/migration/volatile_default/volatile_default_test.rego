package rollguard.migration.volatile_default_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.volatile_default

add(def) := t.stmt(0, {
	"operation": "add_column", "table": "orders", "column": "public_id", "is_ddl": true, "line": 3,
	"column_def": object.union(
		{"type": "uuid", "not_null": false, "has_default": false, "default": null, "default_volatile": false, "generated_stored": false},
		def,
	),
})

test_volatile_default_is_reported if {
	s := add({"has_default": true, "default": "gen_random_uuid()", "default_volatile": true})
	v := volatile_default.violation with input as t.judge(t.migration_file([s]), {"pg_version": 15})
	v == {{
		"msg": `column "public_id" is added to table "orders" with the volatile default gen_random_uuid(), which rewrites the whole table under an ACCESS EXCLUSIVE lock`,
		"details": {
			"line": 3, "statement": 0, "operation": "add_column", "table": "orders",
			"column": "public_id", "default": "gen_random_uuid()", "default_volatile": true,
		},
	}}
}

test_stored_generated_column_is_reported if {
	s := add({"type": "numeric", "generated_stored": true})
	v := volatile_default.violation with input as t.judge(t.migration_file([s]), {})
	v == {{
		"msg": `column "public_id" is added to table "orders" as a stored generated column, which rewrites the whole table under an ACCESS EXCLUSIVE lock`,
		"details": {"line": 3, "statement": 0, "operation": "add_column", "table": "orders", "column": "public_id", "generated_stored": true},
	}}
}

test_constant_default_passes_from_pg_11 if {
	s := add({"has_default": true, "default": "10"})
	count(volatile_default.violation) == 0 with input as t.judge(t.migration_file([s]), {"pg_version": 11})
	count(volatile_default.violation) == 0 with input as t.judge(t.migration_file([s]), {})
}

test_any_default_before_pg_11_is_reported if {
	s := add({"has_default": true, "default": "10"})
	v := volatile_default.violation with input as t.judge(t.migration_file([s]), {"pg_version": "10"})
	v == {{
		"msg": `column "public_id" is added to table "orders" with the default 10; before PostgreSQL 11 that rewrites the whole table under an ACCESS EXCLUSIVE lock`,
		"details": {"line": 3, "statement": 0, "operation": "add_column", "table": "orders", "column": "public_id", "default": "10", "pg_version": 10},
	}}

	# DEFAULT NULL is no default.
	null_default := add({"has_default": true, "default": "NULL"})
	count(volatile_default.violation) == 0 with input as t.judge(t.migration_file([null_default]), {"pg_version": 10})
}

test_new_tables_and_plain_columns_pass if {
	s := object.union(add({"has_default": true, "default": "gen_random_uuid()", "default_volatile": true}), {"table_is_new": true})
	count(volatile_default.violation) == 0 with input as t.judge(t.migration_file([s, add({})]), {})
}

test_table_from_a_file_not_known_to_be_pending_is_reported_with_a_hint if {
	s := object.union(
		add({"has_default": true, "default": "gen_random_uuid()", "default_volatile": true}),
		{"table_created_in": {"file": "V1__orders.sql", "pending": null}},
	)
	v := volatile_default.violation with input as t.judge(t.migration_file([s]), {})
	v == {{
		"msg": `column "public_id" is added to table "orders" with the volatile default gen_random_uuid(), which rewrites the whole table under an ACCESS EXCLUSIVE lock (table "orders" is created by V1__orders.sql, which is not known to be pending, so it is judged as existing; say which migrations have not run yet with --pending-from, --since or --dsn)`,
		"details": {
			"line": 3, "statement": 0, "operation": "add_column", "table": "orders", "column": "public_id",
			"default": "gen_random_uuid()", "default_volatile": true, "table_created_in": "V1__orders.sql",
		},
	}}

	# Created by a file known to be pending: a new table, not judged.
	pending := object.union(s, {"table_is_new": true, "table_created_in": {"file": "V1__orders.sql", "pending": true}})
	count(volatile_default.violation) == 0 with input as t.judge(t.migration_file([pending]), {})
}
