# METADATA
# title: Expand-phase migrations do not drop tables, schemas or databases
# description: >-
#   The old version of the application keeps serving during a rolling deployment,
#   so a table, schema or database dropped by the migration that ships with the
#   new version breaks it at once, and the data is gone for good if the rollout
#   has to be rolled back. DROP TABLE, DROP SCHEMA and DROP DATABASE belong in a
#   contract-phase migration (a table created earlier in the same file or in a
#   pending file of the change may be dropped anywhere). TRUNCATE ... CASCADE is
#   reported in every phase: it also empties every table that references the
#   truncated ones through a foreign key, which the statement does not name.
#   High: the old version breaks at once and the data is gone for good, so a
#   rollback cannot restore it.
# scope: package
# custom:
#   id: migration.drop_table
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Stop using the table in a deployed version first, then drop it in a
#     contract-phase migration of a later deployment (keep a backup or rename it
#     aside for a while). Name every table to truncate instead of using CASCADE.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     -- contract phase: no running version reads legacy_sessions any more
#     DROP TABLE legacy_sessions;
#     TRUNCATE import_staging;
#   example_disallowed: |
#     -- expand phase
#     DROP TABLE legacy_sessions;
#     TRUNCATE accounts CASCADE;
package rollguard.migration.drop_table

import data.rollguard.lib.migration

verbs := {"drop_table": "DROP TABLE", "drop_schema": "DROP SCHEMA", "drop_database": "DROP DATABASE"}

violation contains {"msg": msg, "details": d} if {
	migration.expand_phase
	some s in migration.statements
	verb := verbs[s.operation]
	migration.on_existing_table(s)
	d := object.union(migration.details(s), {"phase": object.get(migration.file, "phase", null)})
	msg := migration.message(s, sprintf(
		"%s%s in an expand-phase migration; the old version, still serving during the rollout, uses it, and a rollback cannot bring the data back",
		[verb, name_display(s)],
	))
}

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.operation == "truncate"
	s.cascade == true
	d := object.union(migration.details(s), {"cascade": true})
	msg := sprintf(
		"TRUNCATE ... CASCADE on %s also empties every table that references it through a foreign key",
		[migration.table_display(s)],
	)
}

name_display(s) := sprintf(" %q", [name]) if {
	name := migration.object_name(s)
	is_string(name)
} else := ""
