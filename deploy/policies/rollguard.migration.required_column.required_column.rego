# METADATA
# title: New columns on existing tables are nullable or have a default
# description: >-
#   A column added as NOT NULL without a default breaks the old version of the
#   application, which keeps serving during a rolling deployment and does not know
#   the column: every INSERT it makes fails with a not-null violation (and on a
#   table that already has rows the ALTER itself fails). Serial columns and stored
#   generated columns fill themselves and are accepted; tables created earlier in
#   the same file or in a pending file of the change are not judged. High: every
#   INSERT of the old version fails while it still serves, or the ALTER itself
#   fails on a table with rows.
# scope: package
# custom:
#   id: migration.required_column
#   severity: high
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Add the column nullable or with a constant default; once every running
#     version writes it and old rows are backfilled, add NOT NULL in a later
#     migration (through a validated CHECK constraint, see migration.set_not_null).
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     ALTER TABLE recipe ADD COLUMN public boolean NOT NULL DEFAULT false;
#   example_disallowed: |
#     ALTER TABLE recipe ADD COLUMN public boolean NOT NULL;
package rollguard.migration.required_column

import data.rollguard.lib.migration

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation == "add_column"
	migration.on_existing_table(s)
	s.column_def.not_null == true
	not fills_itself(s.column_def)
	d := object.union(migration.details(s), {"column": object.get(s, "column", null), "type": object.get(s.column_def, "type", null)})
	msg := migration.message(s, sprintf(
		"%s is added to %s as NOT NULL without a default; INSERTs of the old version, still serving during the rollout, do not set it and fail",
		[migration.column_display(s), migration.table_display(s)],
	))
}

fills_itself(def) if def.has_default == true

fills_itself(def) if def.generated_stored == true

fills_itself(def) if {
	is_string(def.type)
	lower(def.type) in {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}
}
