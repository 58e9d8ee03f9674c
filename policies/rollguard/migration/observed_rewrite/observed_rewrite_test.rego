package rollguard.migration.observed_rewrite_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.observed_rewrite

observed(rewrote, existed) := t.stmt(0, {
	"operation": "add_column", "table": "orders", "column": "token", "is_ddl": true, "line": 2,
	"observed": {"locks": [{"relation": "orders", "mode": "AccessExclusiveLock"}], "rewrote": rewrote, "ms": 40, "table_existed": existed},
})

test_rewrite_of_an_existing_table_is_reported if {
	v := observed_rewrite.violation with input as t.judge(t.migration_file([observed(["orders"], true)]), {})
	v == {{
		"msg": `in a real run, ADD COLUMN rewrote existing table "orders" under an ACCESS EXCLUSIVE lock, blocking its reads and writes`,
		"details": {"line": 2, "statement": 0, "operation": "add_column", "table": "orders", "relation": "orders", "ms": 40},
	}}
}

test_no_rewrite_or_a_new_table_passes if {
	count(observed_rewrite.violation) == 0 with input as t.judge(t.migration_file([observed([], true)]), {})
	count(observed_rewrite.violation) == 0 with input as t.judge(t.migration_file([observed(["orders"], false)]), {})
	count(observed_rewrite.violation) == 0 with input as t.judge(t.migration_file([observed(null, true)]), {})
}
