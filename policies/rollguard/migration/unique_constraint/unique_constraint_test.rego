package rollguard.migration.unique_constraint_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.unique_constraint

unique(index, fields) := t.stmt(index, object.union(
	{
		"operation": "add_constraint", "table": "users", "is_ddl": true,
		"constraint": {"type": "unique", "name": "users_email_key", "not_valid": false, "using_index": null, "expression": null},
	},
	fields,
))

build(index, concurrently) := t.stmt(index, {
	"operation": "create_index", "table": "users", "is_ddl": true, "concurrently": concurrently, "line": 1,
	"object": "users_email_idx",
})

test_unique_constraint_building_its_index_is_reported if {
	v := unique_constraint.violation with input as t.judge(t.migration_file([unique(0, {})]), {})
	v == {{
		"msg": `adding the UNIQUE constraint "users_email_key" to table "users" builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes`,
		"details": {
			"line": 1, "statement": 0, "operation": "add_constraint", "table": "users",
			"constraint": "users_email_key", "constraint_type": "unique",
		},
	}}
}

test_inline_primary_key_is_reported if {
	s := unique(0, {"operation": "add_column", "column": "id", "constraint": {"type": "primary_key", "name": null}})
	v := unique_constraint.violation with input as t.judge(t.migration_file([s]), {})
	{x.msg | some x in v} == {`adding the PRIMARY KEY constraint to table "users" builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes`}
}

test_using_a_concurrently_built_index_passes if {
	doc := t.migration_file([build(0, true), unique(1, {"constraint": {"using_index": "users_email_idx"}})])
	count(unique_constraint.violation) == 0 with input as t.judge(doc, {})

	# Built outside this file: trusted.
	alone := t.migration_file([unique(0, {"constraint": {"using_index": "users_email_idx"}})])
	count(unique_constraint.violation) == 0 with input as t.judge(alone, {})
}

test_using_an_index_built_without_concurrently_is_reported if {
	doc := t.migration_file([build(0, false), unique(1, {"constraint": {"using_index": "users_email_idx"}, "line": 2})])
	v := unique_constraint.violation with input as t.judge(doc, {})
	v == {{
		"msg": `the UNIQUE constraint "users_email_key" uses index "users_email_idx", which this migration builds without CONCURRENTLY`,
		"details": {
			"line": 2, "statement": 1, "operation": "add_constraint", "table": "users",
			"constraint": "users_email_key", "constraint_type": "unique", "using_index": "users_email_idx", "index_line": 1,
		},
	}}
}

test_new_tables_and_other_constraints_pass if {
	doc := t.migration_file([unique(0, {"table_is_new": true}), unique(1, {"constraint": {"type": "check"}})])
	count(unique_constraint.violation) == 0 with input as t.judge(doc, {})
}
