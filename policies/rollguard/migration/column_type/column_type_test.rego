package rollguard.migration.column_type_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.column_type

change(index, to, using) := t.stmt(index, {
	"operation": "alter_column_type", "table": "orders", "column": "note", "is_ddl": true,
	"type_change": {"to": to, "using": using},
})

add(index, type) := t.stmt(index, {
	"operation": "add_column", "table": "orders", "column": "note", "is_ddl": true,
	"column_def": {"type": type, "not_null": false, "has_default": false, "default": null, "default_volatile": false, "generated_stored": false},
})

test_change_from_an_unknown_type_is_reported if {
	v := column_type.violation with input as t.judge(t.migration_file([change(0, "text", false)]), {})
	v == {{
		"msg": `changing the type of column "note" of table "orders" to text may rewrite the table under an ACCESS EXCLUSIVE lock, blocking both versions (its current type is not known from this change)`,
		"details": {
			"line": 1, "statement": 0, "operation": "alter_column_type", "table": "orders",
			"column": "note", "type_from": null, "type_to": "text", "using": false,
		},
	}}
}

test_change_from_a_known_type_that_rewrites_is_reported if {
	v := column_type.violation with input as t.judge(t.migration_file([add(0, "integer"), change(1, "bigint", false)]), {})
	v == {{
		"msg": `changing the type of column "note" of table "orders" from integer to bigint rewrites the table under an ACCESS EXCLUSIVE lock, blocking both versions`,
		"details": {
			"line": 2, "statement": 1, "operation": "alter_column_type", "table": "orders",
			"column": "note", "type_from": "integer", "type_to": "bigint", "using": false,
		},
	}}
}

test_binary_compatible_changes_pass if {
	every pair in [
		["varchar(50)", "text"],
		["character varying(50)", "varchar"],
		["varchar(50)", "varchar(100)"],
		["VARCHAR(50)", "character varying (50)"],
		["text", "varchar"],
		["numeric(10,2)", "numeric(12,2)"],
		["decimal(10)", "numeric(12)"],
		["numeric(10,2)", "numeric"],
	] {
		count(column_type.violation) == 0 with input as t.judge(t.migration_file([add(0, pair[0]), change(1, pair[1], false)]), {})
	}
}

test_narrowing_and_scale_changes_are_reported if {
	every pair in [
		["varchar(100)", "varchar(50)"],
		["text", "varchar(100)"],
		["numeric(10,2)", "numeric(12,3)"],
		["numeric(12,2)", "numeric(10,2)"],
		["varchar(10)", "integer"],
	] {
		count(column_type.violation) == 1 with input as t.judge(t.migration_file([add(0, pair[0]), change(1, pair[1], false)]), {})
	}
}

test_the_latest_earlier_type_counts_and_using_is_a_rewrite if {
	# varchar(255) is known after the first change, so the second (to text) is safe.
	v := column_type.violation with input as t.judge(t.migration_file([change(0, "varchar(255)", true), change(1, "text", false)]), {})
	{x.details.statement | some x in v} == {0}

	w := column_type.violation with input as t.judge(t.migration_file([add(0, "varchar(20)"), change(1, "text", true)]), {})
	{x.details.using | some x in w} == {true}
}

test_new_tables_pass if {
	s := object.union(change(0, "bigint", false), {"table_is_new": true})
	count(column_type.violation) == 0 with input as t.judge(t.migration_file([s]), {})
}
