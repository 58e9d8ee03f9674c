package rollguard.migration.unknown_statement_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.unknown_statement

test_unclassified_statement_is_reported if {
	s := t.stmt(0, {"operation": "unknown", "parser": "unknown", "sql": "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;\n", "line": 4})
	v := unknown_statement.violation with input as t.judge(t.migration_file([s]), {})
	v == {{
		"msg": `statement "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;" could not be classified; review what it locks and changes`,
		"details": {
			"line": 4, "statement": 0, "operation": "unknown", "table": null,
			"parser": "unknown", "sql": "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;",
		},
	}}
}

test_do_block_is_reported if {
	s := t.stmt(0, {"operation": "do_block", "parser": "command", "sql": "DO $$\nBEGIN PERFORM 1; END $$;"})
	v := unknown_statement.violation with input as t.judge(t.migration_file([s]), {})
	v == {{
		"msg": "a DO block runs procedural code that no policy can judge; review what it locks and changes",
		"details": {"line": 1, "statement": 0, "operation": "do_block", "table": null, "parser": "command", "sql": "DO $$"},
	}}
}

test_long_statements_are_shortened if {
	long := concat("", ["VACUUM FULL ", concat(", ", [sprintf("t%d", [i]) | some i in numbers.range(1, 40)])])
	v := unknown_statement.violation with input as t.judge(t.migration_file([t.stmt(0, {"sql": long})]), {})
	some x in v
	count(x.details.sql) == 80
	endswith(x.details.sql, "...")
}

test_classified_statements_pass if {
	s := t.stmt(0, {"operation": "add_column", "table": "users"})
	count(unknown_statement.violation) == 0 with input as t.judge(t.migration_file([s]), {})
}
