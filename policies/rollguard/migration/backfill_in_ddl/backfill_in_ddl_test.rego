package rollguard.migration.backfill_in_ddl_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.backfill_in_ddl

ddl := t.stmt(1, {"operation": "add_column", "table": "orders", "column": "region", "is_ddl": true, "in_transaction": true, "transaction": 0, "line": 2})

update(fields) := t.stmt(2, object.union(
	{"operation": "update", "table": "orders", "where": true, "in_transaction": true, "transaction": 0, "line": 3},
	fields,
))

test_update_in_the_ddl_transaction_is_reported if {
	v := backfill_in_ddl.violation with input as t.judge(t.migration_file([t.stmt(0, {"operation": "begin"}), ddl, update({})]), {})
	v == {{
		"msg": `UPDATE of table "orders" runs in the same transaction as DDL on an existing table, so the DDL's lock is held for the whole backfill`,
		"details": {"line": 3, "statement": 2, "operation": "update", "table": "orders", "transaction": 0, "ddl_lines": [2]},
	}}
}

test_update_in_its_own_transaction_passes if {
	count(backfill_in_ddl.violation) == 0 with input as t.judge(t.migration_file([ddl, update({"transaction": 1})]), {})
	count(backfill_in_ddl.violation) == 0 with input as t.judge(t.migration_file([ddl, update({"transaction": null, "in_transaction": false})]), {})
}

test_write_without_where_is_reported_anywhere if {
	doc := t.migration_file([t.stmt(0, {"operation": "delete", "table": "sessions", "line": 7})])
	v := backfill_in_ddl.violation with input as t.judge(doc, {})
	v == {{
		"msg": `DELETE without WHERE touches every row of table "sessions" in one transaction, blocking the old version's writes to them`,
		"details": {"line": 7, "statement": 0, "operation": "delete", "table": "sessions", "where": false},
	}}
}

test_update_without_where_in_a_ddl_transaction_is_reported_once if {
	v := backfill_in_ddl.violation with input as t.judge(t.migration_file([ddl, update({"where": false})]), {})
	{x.details.ddl_lines | some x in v} == {[2]}
	count(v) == 1
}

test_bookkeeping_and_new_tables_pass if {
	doc := t.migration_file([
		ddl,
		update({"table": "alembic_version"}),
		update({"table": "orders_archive", "table_is_new": true, "where": false}),
	])
	count(backfill_in_ddl.violation) == 0 with input as t.judge(doc, {})
	v := backfill_in_ddl.violation with input as t.judge(doc, {"ignore_tables": []})
	{x.details.table | some x in v} == {"alembic_version"}
}

test_ddl_on_a_new_table_is_no_ddl_lock_on_traffic if {
	new := object.union(ddl, {"table_is_new": true})
	count(backfill_in_ddl.violation) == 0 with input as t.judge(t.migration_file([new, update({})]), {})
}
