package rollguard.migration.drop_table_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.drop_table

test_drop_table_schema_and_database_in_expand_phase_are_reported if {
	doc := t.migration_file([
		t.stmt(0, {"operation": "drop_table", "table": "legacy_sessions", "is_ddl": true}),
		t.stmt(1, {"operation": "drop_schema", "object": "reporting", "is_ddl": true, "cascade": true}),
		t.stmt(2, {"operation": "drop_database", "object": "scratch", "is_ddl": true}),
	])
	v := drop_table.violation with input as t.judge(doc, {})
	v == {
		{
			"msg": `DROP TABLE "legacy_sessions" in an expand-phase migration; the old version, still serving during the rollout, uses it, and a rollback cannot bring the data back`,
			"details": {"line": 1, "statement": 0, "operation": "drop_table", "table": "legacy_sessions", "phase": "expand"},
		},
		{
			"msg": `DROP SCHEMA "reporting" in an expand-phase migration; the old version, still serving during the rollout, uses it, and a rollback cannot bring the data back`,
			"details": {"line": 2, "statement": 1, "operation": "drop_schema", "table": null, "phase": "expand"},
		},
		{
			"msg": `DROP DATABASE "scratch" in an expand-phase migration; the old version, still serving during the rollout, uses it, and a rollback cannot bring the data back`,
			"details": {"line": 3, "statement": 2, "operation": "drop_database", "table": null, "phase": "expand"},
		},
	}
}

test_drop_in_contract_phase_or_of_a_new_table_passes if {
	s := t.stmt(0, {"operation": "drop_table", "table": "legacy_sessions", "is_ddl": true})
	count(drop_table.violation) == 0 with input as t.judge(t.contract_file([s]), {})
	count(drop_table.violation) == 0 with input as t.judge(t.migration_file([object.union(s, {"table_is_new": true})]), {})
}

test_truncate_cascade_is_reported_in_every_phase if {
	s := t.stmt(0, {"operation": "truncate", "table": "accounts", "cascade": true, "line": 4})
	expected := {{
		"msg": `TRUNCATE ... CASCADE on table "accounts" also empties every table that references it through a foreign key`,
		"details": {"line": 4, "statement": 0, "operation": "truncate", "table": "accounts", "cascade": true},
	}}
	v := drop_table.violation with input as t.judge(t.contract_file([s]), {})
	v == expected
}

test_truncate_without_cascade_passes if {
	s := t.stmt(0, {"operation": "truncate", "table": "import_staging"})
	count(drop_table.violation) == 0 with input as t.judge(t.migration_file([s]), {})
}
