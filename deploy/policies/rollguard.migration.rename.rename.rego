# METADATA
# title: Migrations do not rename tables or columns the old version uses
# description: >-
#   The old version of the application keeps serving during a rolling deployment
#   and still uses the old names: after RENAME every one of its queries on the
#   table or column fails. A table rename is accepted when the same file creates
#   a view with the old name (a compatibility view, simple enough to be
#   updatable); a column rename is accepted when its table is renamed in the
#   same file and a view with the table's old name is created, the usual way to
#   present the old shape to the old version. Tables created earlier in the same
#   file or in a pending file of the change are not judged. High: every query of
#   the old version on the old name fails as soon as the migration runs, while
#   that version still serves.
# scope: package
# custom:
#   id: migration.rename
#   severity: high
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Expand and contract instead: add the new column (or table), write both and
#     backfill, switch reads in a later version, and drop the old one in a
#     contract-phase migration. Or rename and create a view with the old name in
#     the same migration, dropped once no version uses it.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     ALTER TABLE customers RENAME TO accounts;
#     CREATE VIEW customers AS SELECT * FROM accounts;
#   example_disallowed: |
#     ALTER TABLE customers RENAME COLUMN fullname TO display_name;
package rollguard.migration.rename

import data.rollguard.lib.migration

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation == "rename_table"
	migration.on_existing_table(s)
	not compatibility_view(s.table)
	d := object.union(migration.details(s), {"new_name": object.get(s, "new_name", null)})
	msg := migration.message(s, sprintf(
		"%s is renamed to %s; the old version, still serving during the rollout, queries the old name (create a view with the old name in the same migration)",
		[migration.table_display(s), new_name_display(s)],
	))
}

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation == "rename_column"
	migration.on_existing_table(s)
	not renamed_behind_view(s)
	d := object.union(migration.details(s), {"column": object.get(s, "column", null), "new_name": object.get(s, "new_name", null)})
	msg := migration.message(s, sprintf(
		"%s of %s is renamed to %s; the old version, still serving during the rollout, reads and writes the old name",
		[migration.column_display(s), migration.table_display(s), new_name_display(s)],
	))
}

# A view named `name` created anywhere in this file.
compatibility_view(name) if {
	some v in migration.statements
	v.operation == "create_view"
	migration.same_name(migration.object_name(v), name)
}

# The column's table was renamed in this file and a view keeps the table's old name.
renamed_behind_view(s) if {
	some r in migration.statements
	r.operation == "rename_table"
	migration.same_name(r.new_name, s.table)
	compatibility_view(r.table)
}

new_name_display(s) := sprintf("%q", [s.new_name]) if is_string(s.new_name) else := "a new name"
