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
