package rollguard.migration.index_concurrently_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.index_concurrently

create(fields) := t.stmt(0, object.union(
	{"operation": "create_index", "table": "orders", "is_ddl": true, "object": "orders_customer_idx"},
	fields,
))

test_create_index_without_concurrently_is_reported if {
	v := index_concurrently.violation with input as t.judge(t.migration_file([create({})]), {})
	v == {{
		"msg": `CREATE INDEX without CONCURRENTLY blocks every write to table "orders" until the index is built`,
		"details": {
			"line": 1, "statement": 0, "operation": "create_index", "table": "orders",
			"index": "orders_customer_idx", "concurrently": false,
		},
	}}
}

test_drop_index_and_reindex_without_table_are_reported if {
	doc := t.migration_file([
		t.stmt(0, {"operation": "drop_index", "is_ddl": true, "if_exists": true}),
		t.stmt(1, {"operation": "reindex", "table": "orders", "is_ddl": true}),
	])
	v := index_concurrently.violation with input as t.judge(doc, {})
	v == {
		{
			"msg": "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the index's table, blocking its reads and writes",
			"details": {"line": 1, "statement": 0, "operation": "drop_index", "table": null, "index": null, "concurrently": false},
		},
		{
			"msg": `REINDEX without CONCURRENTLY blocks writes to table "orders", and reads that use the index, until it finishes`,
			"details": {"line": 2, "statement": 1, "operation": "reindex", "table": "orders", "index": null, "concurrently": false},
		},
	}
}

test_concurrently_outside_a_transaction_passes if {
	count(index_concurrently.violation) == 0 with input as t.judge(t.migration_file([create({"concurrently": true})]), {})
}

test_index_on_a_new_table_passes if {
	count(index_concurrently.violation) == 0 with input as t.judge(t.migration_file([create({"table_is_new": true})]), {})
}

test_concurrently_inside_a_transaction_is_reported if {
	s := create({"concurrently": true, "in_transaction": true, "transaction": 0, "table_is_new": true})
	v := index_concurrently.violation with input as t.judge(t.migration_file([s]), {})
	v == {{
		"msg": "CREATE INDEX CONCURRENTLY cannot run inside a transaction block: PostgreSQL refuses it and the migration fails",
		"details": {
			"line": 1, "statement": 0, "operation": "create_index", "table": "orders",
			"index": "orders_customer_idx", "concurrently": true, "in_transaction": true,
		},
	}}
}

test_table_from_a_file_known_to_have_run_is_reported_without_a_hint if {
	s := create({"table_created_in": {"file": "V1__orders.sql", "pending": false}})
	v := index_concurrently.violation with input as t.judge(t.migration_file([s]), {})
	v == {{
		"msg": `CREATE INDEX without CONCURRENTLY blocks every write to table "orders" until the index is built`,
		"details": {
			"line": 1, "statement": 0, "operation": "create_index", "table": "orders",
			"index": "orders_customer_idx", "concurrently": false,
		},
	}}
}

test_table_from_a_file_not_known_to_be_pending_is_reported_with_a_hint if {
	s := create({"table_created_in": {"file": "V1__orders.sql", "pending": null}})
	v := index_concurrently.violation with input as t.judge(t.migration_file([s]), {})
	v == {{
		"msg": `CREATE INDEX without CONCURRENTLY blocks every write to table "orders" until the index is built (table "orders" is created by V1__orders.sql, which is not known to be pending, so it is judged as existing; say which migrations have not run yet with --pending-from, --since or --dsn)`,
		"details": {
			"line": 1, "statement": 0, "operation": "create_index", "table": "orders",
			"index": "orders_customer_idx", "concurrently": false, "table_created_in": "V1__orders.sql",
		},
	}}
}
