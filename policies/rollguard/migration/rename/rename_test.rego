package rollguard.migration.rename_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.rename

rename_table := t.stmt(0, {"operation": "rename_table", "table": "customers", "new_name": "accounts", "is_ddl": true})

rename_column := t.stmt(1, {"operation": "rename_column", "table": "accounts", "column": "fullname", "new_name": "display_name", "is_ddl": true})

view := t.stmt(2, {"operation": "create_view", "object": "customers", "is_ddl": true})

test_table_rename_is_reported if {
	v := rename.violation with input as t.judge(t.migration_file([rename_table]), {})
	v == {{
		"msg": `table "customers" is renamed to "accounts"; the old version, still serving during the rollout, queries the old name (create a view with the old name in the same migration)`,
		"details": {"line": 1, "statement": 0, "operation": "rename_table", "table": "customers", "new_name": "accounts"},
	}}
}

test_column_rename_is_reported if {
	v := rename.violation with input as t.judge(t.migration_file([rename_column]), {})
	v == {{
		"msg": `column "fullname" of table "accounts" is renamed to "display_name"; the old version, still serving during the rollout, reads and writes the old name`,
		"details": {
			"line": 2, "statement": 1, "operation": "rename_column", "table": "accounts",
			"column": "fullname", "new_name": "display_name",
		},
	}}
}

test_compatibility_view_with_the_old_name_covers_both if {
	count(rename.violation) == 0 with input as t.judge(t.migration_file([rename_table, rename_column, view]), {})
}

test_view_with_another_name_does_not_cover if {
	other := object.union(view, {"object": "customer_view"})
	v := rename.violation with input as t.judge(t.migration_file([rename_table, other]), {})
	{x.details.operation | some x in v} == {"rename_table"}
}

test_renames_on_new_tables_pass if {
	s := object.union(rename_column, {"table_is_new": true})
	count(rename.violation) == 0 with input as t.judge(t.migration_file([s]), {})
}
