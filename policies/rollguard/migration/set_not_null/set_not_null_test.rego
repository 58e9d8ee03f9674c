package rollguard.migration.set_not_null_test

import data.rollguard.lib.migration_test as t
import data.rollguard.migration.set_not_null

set_nn(index) := t.stmt(index, {"operation": "set_not_null", "table": "users", "column": "email", "is_ddl": true})

add_check(index, name, expr) := t.stmt(index, {
	"operation": "add_constraint", "table": "users", "is_ddl": true,
	"constraint": {"type": "check", "name": name, "not_valid": true, "using_index": null, "expression": expr},
})

validate(index, name) := t.stmt(index, {
	"operation": "validate_constraint", "table": "users", "is_ddl": true,
	"constraint": {"type": null, "name": name, "not_valid": false, "using_index": null, "expression": null},
})

test_set_not_null_without_check_is_reported if {
	v := set_not_null.violation with input as t.judge(t.migration_file([set_nn(0)]), {"pg_version": 15})
	v == {{
		"msg": `SET NOT NULL on column "email" of table "users" scans the whole table under an ACCESS EXCLUSIVE lock; add CHECK (email IS NOT NULL) NOT VALID and validate it first`,
		"details": {"line": 1, "statement": 0, "operation": "set_not_null", "table": "users", "column": "email", "pg_version": 15},
	}}
}

test_validated_check_first_passes if {
	doc := t.migration_file([add_check(0, "users_email_nn", `("Email" IS NOT NULL)`), validate(1, "users_email_nn"), set_nn(2)])
	count(set_not_null.violation) == 0 with input as t.judge(doc, {})
}

test_check_not_yet_validated_is_reported if {
	doc := t.migration_file([add_check(0, "users_email_nn", "email IS NOT NULL"), set_nn(1)])
	count(set_not_null.violation) == 1 with input as t.judge(doc, {})
}

test_check_on_another_column_does_not_count if {
	doc := t.migration_file([add_check(0, "users_name_nn", "name IS NOT NULL"), validate(1, "users_name_nn"), set_nn(2)])
	count(set_not_null.violation) == 1 with input as t.judge(doc, {})
}

test_validate_of_a_constraint_added_elsewhere_counts_when_named_for_the_column if {
	count(set_not_null.violation) == 0 with input as t.judge(t.migration_file([validate(0, "users_email_not_null"), set_nn(1)]), {})
	count(set_not_null.violation) == 1 with input as t.judge(t.migration_file([validate(0, "users_fk"), set_nn(1)]), {})
}

test_check_added_in_an_earlier_file_of_the_change_counts if {
	earlier := object.union(t.migration_file([add_check(0, "users_email_nn", "email IS NOT NULL")]), {"order": 0})
	doc := t.migration_file([validate(0, "users_email_nn"), set_nn(1)])
	count(set_not_null.violation) == 0 with input as t.judge(doc, {})
		with data.rollguard.changeset.migration as [earlier]
}

test_before_pg_12_every_set_not_null_is_reported if {
	doc := t.migration_file([add_check(0, "users_email_nn", "email IS NOT NULL"), validate(1, "users_email_nn"), set_nn(2)])
	v := set_not_null.violation with input as t.judge(doc, {"pg_version": 11})
	v == {{
		"msg": `SET NOT NULL on column "email" of table "users" scans the whole table under an ACCESS EXCLUSIVE lock; PostgreSQL 11 cannot use a CHECK constraint to skip the scan`,
		"details": {"line": 3, "statement": 2, "operation": "set_not_null", "table": "users", "column": "email", "pg_version": 11},
	}}
}

test_new_tables_pass if {
	s := object.union(set_nn(0), {"table_is_new": true})
	count(set_not_null.violation) == 0 with input as t.judge(t.migration_file([s]), {"pg_version": 11})
}
