# METADATA
# title: New columns do not rewrite the table
# description: >-
#   Since PostgreSQL 11, ADD COLUMN with a constant default only records the
#   default; a volatile default (random(), uuid(), clock_timestamp(), a function
#   not known to be stable) and a stored generated column still rewrite the
#   whole table under an ACCESS EXCLUSIVE lock, and before PostgreSQL 11
#   (parameter pg_version) every non-null default does. Meanwhile both running
#   versions wait. Which defaults are volatile is the loader's judgement
#   (default_volatile). Tables created earlier in the same file or in a pending
#   file of the change are not judged. Medium because which defaults are
#   volatile is the loader's judgement (a function it does not know counts), so
#   the rewrite is likely rather than certain; migration.observed_rewrite blocks
#   it once a real run shows it.
# scope: package
# custom:
#   id: migration.volatile_default
#   severity: medium
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Add the column without a default (or with a constant one), set the default
#     with ALTER COLUMN ... SET DEFAULT so new rows get it, and backfill old rows
#     in batches. Compute a generated value in a trigger or in the application
#     instead of a stored generated column on a large table.
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
#     ALTER TABLE orders ADD COLUMN public_id uuid;
#     ALTER TABLE orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid();
#   example_disallowed: |
#     ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid();
package rollguard.migration.volatile_default

import data.rollguard.lib.migration

pg_version := migration.pg_version(input.parameters)

violation contains {"msg": msg, "details": d} if {
	some s in added_columns
	s.column_def.generated_stored == true
	d := object.union(migration.details(s), {"column": object.get(s, "column", null), "generated_stored": true})
	msg := migration.message(s, sprintf(
		"%s is added to %s as a stored generated column, which rewrites the whole table under an ACCESS EXCLUSIVE lock",
		[migration.column_display(s), migration.table_display(s)],
	))
}

violation contains {"msg": msg, "details": d} if {
	some s in added_columns
	not s.column_def.generated_stored == true
	s.column_def.default_volatile == true
	d := object.union(migration.details(s), {
		"column": object.get(s, "column", null),
		"default": object.get(s.column_def, "default", null),
		"default_volatile": true,
	})
	msg := migration.message(s, sprintf(
		"%s is added to %s with the volatile default %s, which rewrites the whole table under an ACCESS EXCLUSIVE lock",
		[migration.column_display(s), migration.table_display(s), default_display(s)],
	))
}

violation contains {"msg": msg, "details": d} if {
	pg_version < 11
	some s in added_columns
	not s.column_def.generated_stored == true
	not s.column_def.default_volatile == true
	has_default(s.column_def)
	d := object.union(migration.details(s), {
		"column": object.get(s, "column", null),
		"default": object.get(s.column_def, "default", null),
		"pg_version": pg_version,
	})
	msg := migration.message(s, sprintf(
		"%s is added to %s with the default %s; before PostgreSQL 11 that rewrites the whole table under an ACCESS EXCLUSIVE lock",
		[migration.column_display(s), migration.table_display(s), default_display(s)],
	))
}

added_columns contains s if {
	some s in migration.statements
	s.operation == "add_column"
	migration.on_existing_table(s)
	is_object(s.column_def)
}

has_default(def) if {
	def.has_default == true
	not null_default(def)
}

null_default(def) if {
	is_string(def["default"])
	upper(trim_space(def["default"])) == "NULL"
}

default_display(s) := s.column_def.default if is_string(s.column_def.default) else := "(unknown)"
