# METADATA
# title: SET NOT NULL on existing columns uses a validated CHECK constraint
# description: >-
#   ALTER COLUMN ... SET NOT NULL scans the whole table to prove no row is null,
#   holding an ACCESS EXCLUSIVE lock that blocks every read and write of both
#   running versions for the length of the scan. From PostgreSQL 12 the scan is
#   skipped when a valid CHECK (column IS NOT NULL) constraint exists, and that
#   constraint can be added NOT VALID and validated without blocking traffic. A
#   SET NOT NULL is accepted when an earlier statement of the file or of an
#   earlier file of the change validates such a constraint: added NOT VALID and
#   then VALIDATEd, or added valid. A VALIDATE of a constraint added outside the
#   change counts when the constraint's name contains the column's name (as in
#   users_email_not_null). Before PostgreSQL 12 (parameter pg_version) every SET
#   NOT NULL on an existing table is reported. Tables created earlier in the
#   same file or in a pending file of the change are not judged. High: the scan
#   holds an ACCESS EXCLUSIVE lock, blocking every read and write of both
#   versions for its length.
# scope: package
# custom:
#   id: migration.set_not_null
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it (in a
#     separate transaction), then SET NOT NULL and drop the CHECK. Before
#     PostgreSQL 12 keep the validated CHECK constraint instead of SET NOT NULL.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       pg_version:
#         type: number
#         minimum: 9
#         default: 15
#         description: PostgreSQL major version the migrations run on.
#   example_allowed: |
#     ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;
#     ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;
#     ALTER TABLE users ALTER COLUMN email SET NOT NULL;
#     ALTER TABLE users DROP CONSTRAINT users_email_not_null;
#   example_disallowed: |
#     ALTER TABLE users ALTER COLUMN email SET NOT NULL;
package rollguard.migration.set_not_null

import data.rollguard.lib.migration

pg_version := migration.pg_version(input.parameters)

violation contains {"msg": msg, "details": d} if {
	pg_version < 12
	some s in migration.statements
	s.operation == "set_not_null"
	migration.on_existing_table(s)
	d := object.union(migration.details(s), {"column": object.get(s, "column", null), "pg_version": pg_version})
	msg := migration.message(s, sprintf(
		"SET NOT NULL on %s of %s scans the whole table under an ACCESS EXCLUSIVE lock; PostgreSQL %v cannot use a CHECK constraint to skip the scan",
		[migration.column_display(s), migration.table_display(s), pg_version],
	))
}

violation contains {"msg": msg, "details": d} if {
	pg_version >= 12
	some s in migration.statements
	s.operation == "set_not_null"
	migration.on_existing_table(s)
	not validated_check(s)
	d := object.union(migration.details(s), {"column": object.get(s, "column", null), "pg_version": pg_version})
	msg := migration.message(s, sprintf(
		"SET NOT NULL on %s of %s scans the whole table under an ACCESS EXCLUSIVE lock; add CHECK (%s IS NOT NULL) NOT VALID and validate it first",
		[migration.column_display(s), migration.table_display(s), column_name(s)],
	))
}

# A CHECK (column IS NOT NULL) on the same table, valid by the time `s` runs.
validated_check(s) if {
	some a in migration.statements_before(s)
	a.operation == "add_constraint"
	not a.constraint.not_valid == true
	not_null_check(a, s)
}

validated_check(s) if {
	some v in migration.statements_before(s)
	v.operation == "validate_constraint"
	migration.same_name(v.table, s.table)
	checks_column(v.constraint.name, s)
}

# The constraint named `name` was added in view and checks the column for null.
checks_column(name, s) if {
	some a in migration.statements_before(s)
	migration.same_name(a.constraint.name, name)
	not_null_check(a, s)
}

# Added outside the change: trusted when its name names the column.
checks_column(name, s) if {
	not added_in_view(name, s)
	is_string(s.column)
	contains(migration.name_key(name), migration.name_key(s.column))
}

added_in_view(name, s) if {
	some a in migration.statements_before(s)
	a.operation == "add_constraint"
	migration.same_name(a.constraint.name, name)
}

not_null_check(a, s) if {
	a.operation == "add_constraint"
	a.constraint.type == "check"
	migration.same_name(a.table, s.table)
	is_string(a.constraint.expression)
	is_string(s.column)
	expression_words(a.constraint.expression) == [migration.name_key(s.column), "is", "not", "null"]
}

# `("Email"  IS NOT NULL)` → ["email", "is", "not", "null"]
expression_words(expr) := [w |
	flat := replace(replace(replace(replace(replace(lower(expr), `"`, ""), "(", " "), ")", " "), "\n", " "), "\t", " ")
	some w in split(flat, " ")
	w != ""
]

column_name(s) := s.column if is_string(s.column) else := "column"
