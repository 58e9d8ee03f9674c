package rollguard.migration.enum_value_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.enum_value

add_value(in_transaction) := t.stmt(1, {
	"operation": "alter_type_add_value", "object": "order_status", "is_ddl": true,
	"in_transaction": in_transaction, "transaction": 0, "line": 2,
})

test_add_value_in_a_transaction_before_pg_12_is_reported if {
	v := enum_value.violation with input as t.judge(t.migration_file([add_value(true)]), {"pg_version": 11})
	v == {{
		"msg": `ALTER TYPE "order_status" ... ADD VALUE runs inside a transaction block, which PostgreSQL 11 refuses: the migration fails`,
		"details": {"line": 2, "statement": 1, "operation": "alter_type_add_value", "table": null, "in_transaction": true, "pg_version": 11},
	}}
}

test_add_value_outside_a_transaction_or_from_pg_12_passes if {
	count(enum_value.violation) == 0 with input as t.judge(t.migration_file([add_value(false)]), {"pg_version": 11})
	count(enum_value.violation) == 0 with input as t.judge(t.migration_file([add_value(true)]), {"pg_version": 12})
	count(enum_value.violation) == 0 with input as t.judge(t.migration_file([add_value(true)]), {})
}
