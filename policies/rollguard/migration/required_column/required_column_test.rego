package rollguard.migration.required_column_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.required_column

add(def) := t.stmt(0, {
	"operation": "add_column", "table": "recipe", "column": "public", "is_ddl": true, "line": 5,
	"column_def": object.union(
		{"type": "boolean", "not_null": true, "has_default": false, "default": null, "default_volatile": false, "generated_stored": false},
		def,
	),
})

test_not_null_without_default_is_reported if {
	v := required_column.violation with input as t.judge(t.migration_file([add({})]), {})
	v == {{
		"msg": `column "public" is added to table "recipe" as NOT NULL without a default; INSERTs of the old version, still serving during the rollout, do not set it and fail`,
		"details": {"line": 5, "statement": 0, "operation": "add_column", "table": "recipe", "column": "public", "type": "boolean"},
	}}
}

test_columns_that_fill_themselves_pass if {
	every def in [
		{"has_default": true, "default": "true"},
		{"not_null": false},
		{"generated_stored": true, "type": "numeric"},
		{"type": "BIGSERIAL"},
	] {
		count(required_column.violation) == 0 with input as t.judge(t.migration_file([add(def)]), {})
	}
}

test_new_tables_pass if {
	s := object.union(add({}), {"table_is_new": true})
	count(required_column.violation) == 0 with input as t.judge(t.migration_file([s]), {})
}
