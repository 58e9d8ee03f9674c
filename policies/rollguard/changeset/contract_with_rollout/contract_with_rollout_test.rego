package rollguard.changeset.contract_with_rollout_test

import data.rollguard.changeset.contract_with_rollout
import data.rollguard.lib.changeset_test as c
import data.rollguard.lib.migration_test as t
import data.rollguard.lib.testing

drop := t.stmt(1, {"operation": "drop_column", "table": "users", "column": "nickname", "is_ddl": true, "line": 4})

rollout := testing.inventory([c.deployment("shop", "web", "web:2.5"), c.workload("StatefulSet", "shop", "db", "postgres:16", {})])

judge(doc) := t.judge(doc, {})

test_destructive_statement_with_a_rollout_is_reported if {
	doc := t.migration_file([t.stmt(0, {"operation": "set"}), drop])
	v := contract_with_rollout.violation with input as judge(doc) with data.inventory as rollout
	v == {{
		"msg": `DROP COLUMN on table "users" ships in the same change as a rollout of Deployment shop/web, StatefulSet shop/db: old pods still use it while they are replaced; ship the contract step in a later release`,
		"details": {
			"line": 4,
			"statement": 1,
			"operation": "drop_column",
			"table": "users",
			"phase": "expand",
			"workloads": ["Deployment shop/web", "StatefulSet shop/db"],
		},
	}}
}

test_every_destructive_operation_is_reported if {
	every op in ["drop_table", "rename_column", "rename_table", "alter_column_type", "truncate"] {
		doc := t.migration_file([t.stmt(0, {"operation": op, "table": "orders", "line": 9})])
		v := contract_with_rollout.violation with input as judge(doc) with data.inventory as rollout
		{[x.details.operation, x.details.line] | some x in v} == {[op, 9]}
	}
}

test_contract_phase_file_is_reported_at_its_first_ddl if {
	doc := object.union(
		t.contract_file([
			t.stmt(0, {"operation": "set", "line": 3}),
			t.stmt(1, {"operation": "drop_default", "table": "users", "is_ddl": true, "line": 5}),
		]),
		{"file": "V9__contract.sql"},
	)
	v := contract_with_rollout.violation with input as judge(doc) with data.inventory as testing.inventory([c.deployment("shop", "web", "web:2.5")])
	v == {{
		"msg": "contract-phase migration V9__contract.sql ships in the same change as a rollout of Deployment shop/web: old pods still use what it removes while they are replaced; ship the contract step in a later release",
		"details": {
			"line": 5,
			"statement": 1,
			"operation": "drop_default",
			"table": "users",
			"phase": "contract",
			"workloads": ["Deployment shop/web"],
		},
	}}
}

test_contract_phase_drop_is_reported_once if {
	v := contract_with_rollout.violation with input as judge(t.contract_file([drop])) with data.inventory as rollout
	{[x.details.operation, x.details.phase] | some x in v} == {["drop_column", "contract"]}
}

test_no_rollout_in_the_change_passes if {
	doc := t.contract_file([drop])
	count(contract_with_rollout.violation) == 0 with input as judge(doc) with data.inventory as {"namespace": {}, "cluster": {}}
	jobs_only := testing.inventory([c.workload("Job", "shop", "migrate", "web:2.5", {})])
	count(contract_with_rollout.violation) == 0 with input as judge(doc) with data.inventory as jobs_only
}

test_additive_statements_and_new_tables_pass if {
	add := t.stmt(0, {"operation": "add_column", "table": "users", "is_ddl": true})
	new := object.union(drop, {"table_is_new": true})
	count(contract_with_rollout.violation) == 0 with input as judge(t.migration_file([add, new])) with data.inventory as rollout
}

test_operations_parameter if {
	doc := t.migration_file([drop, t.stmt(2, {"operation": "drop_index", "table": "users", "line": 7})])
	v := contract_with_rollout.violation with input as t.judge(doc, {"operations": ["drop_index"]}) with data.inventory as rollout
	{x.details.operation | some x in v} == {"drop_index"}
}
