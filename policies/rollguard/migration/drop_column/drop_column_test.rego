package rollguard.migration.drop_column_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.drop_column

drop := t.stmt(2, {"operation": "drop_column", "table": "users", "column": "nickname", "is_ddl": true, "line": 9})

test_drop_column_in_expand_phase_is_reported if {
	v := drop_column.violation with input as t.judge(t.migration_file([t.stmt(0, {}), t.stmt(1, {}), drop]), {})
	v == {{
		"msg": `column "nickname" is dropped from table "users" in an expand-phase migration; the old version, still serving during the rollout, reads and writes it`,
		"details": {"line": 9, "statement": 2, "operation": "drop_column", "table": "users", "column": "nickname", "phase": "expand"},
	}}
}

test_drop_column_in_contract_phase_passes if {
	count(drop_column.violation) == 0 with input as t.judge(t.contract_file([drop]), {})
}

test_column_of_a_new_table_passes if {
	count(drop_column.violation) == 0 with input as t.judge(t.migration_file([object.union(drop, {"table_is_new": true})]), {})
}

test_other_statements_pass if {
	add := t.stmt(0, {"operation": "add_column", "table": "users", "column": "nickname"})
	count(drop_column.violation) == 0 with input as t.judge(t.migration_file([add]), {})
}

test_column_of_a_table_from_a_file_not_known_to_be_pending_is_reported_with_a_hint if {
	s := object.union(drop, {"table_created_in": {"file": "V1__users.sql", "pending": null}})
	v := drop_column.violation with input as t.judge(t.migration_file([s]), {})
	v == {{
		"msg": `column "nickname" is dropped from table "users" in an expand-phase migration; the old version, still serving during the rollout, reads and writes it (table "users" is created by V1__users.sql, which is not known to be pending, so it is judged as existing; say which migrations have not run yet with --pending-from, --since or --dsn)`,
		"details": {
			"line": 9, "statement": 2, "operation": "drop_column", "table": "users", "column": "nickname",
			"phase": "expand", "table_created_in": "V1__users.sql",
		},
	}}
}

test_files_that_ran_already_are_not_judged if {
	applied := object.union(t.migration_file([drop]), {"pending": false, "pending_by": "pending_from"})
	count(drop_column.violation) == 0 with input as t.judge(applied, {})
}
