package rollguard.migration.constraint_not_valid_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.constraint_not_valid

fk(index, fields) := t.stmt(index, object.union(
	{
		"operation": "add_constraint", "table": "orders", "is_ddl": true,
		"constraint": {"type": "foreign_key", "name": "orders_customer_fk", "not_valid": false, "using_index": null, "expression": null},
	},
	fields,
))

validate(index, fields) := t.stmt(index, object.union(
	{
		"operation": "validate_constraint", "table": "orders", "is_ddl": true,
		"constraint": {"type": null, "name": "orders_customer_fk", "not_valid": false, "using_index": null, "expression": null},
	},
	fields,
))

test_foreign_key_without_not_valid_is_reported if {
	v := constraint_not_valid.violation with input as t.judge(t.migration_file([fk(0, {})]), {})
	v == {{
		"msg": `adding the FOREIGN KEY constraint "orders_customer_fk" to table "orders" without NOT VALID checks every existing row while blocking writes`,
		"details": {
			"line": 1, "statement": 0, "operation": "add_constraint", "table": "orders",
			"constraint": "orders_customer_fk", "constraint_type": "foreign_key",
		},
	}}
}

test_check_and_inline_references_are_judged if {
	check := fk(0, {"constraint": {"type": "check", "name": null, "expression": "total >= 0"}})
	inline := fk(1, {"operation": "add_column", "column": "customer_id", "constraint": {"name": null}})
	v := constraint_not_valid.violation with input as t.judge(t.migration_file([check, inline]), {})
	{x.msg | some x in v} == {
		`adding the CHECK constraint to table "orders" without NOT VALID checks every existing row while blocking writes`,
		`adding the FOREIGN KEY constraint to table "orders" without NOT VALID checks every existing row while blocking writes`,
	}
}

test_not_valid_then_validate_in_another_transaction_passes if {
	doc := t.migration_file([
		fk(0, {"constraint": {"not_valid": true}, "in_transaction": true, "transaction": 0}),
		validate(1, {"in_transaction": true, "transaction": 1}),
	])
	count(constraint_not_valid.violation) == 0 with input as t.judge(doc, {})

	outside := t.migration_file([fk(0, {"constraint": {"not_valid": true}}), validate(1, {})])
	count(constraint_not_valid.violation) == 0 with input as t.judge(outside, {})
}

test_validate_in_the_same_transaction_is_reported if {
	doc := t.migration_file([
		fk(0, {"constraint": {"not_valid": true}, "in_transaction": true, "transaction": 0, "line": 2}),
		validate(1, {"in_transaction": true, "transaction": 0, "line": 3}),
	])
	v := constraint_not_valid.violation with input as t.judge(doc, {})
	v == {{
		"msg": `VALIDATE CONSTRAINT "orders_customer_fk" runs in the same transaction as its ADD, so the ADD's lock blocks writes to table "orders" for the whole validation`,
		"details": {
			"line": 3, "statement": 1, "operation": "validate_constraint", "table": "orders",
			"constraint": "orders_customer_fk", "transaction": 0, "added_at_line": 2,
		},
	}}
}

test_new_tables_and_other_constraints_pass if {
	doc := t.migration_file([
		fk(0, {"table_is_new": true}),
		fk(1, {"constraint": {"type": "unique"}}),
	])
	count(constraint_not_valid.violation) == 0 with input as t.judge(doc, {})
}
