# METADATA
# title: Expand-phase migrations do not drop columns
# description: >-
#   During a rolling deployment the old version of the application keeps serving
#   against the migrated database until its last pod is gone. A column dropped by
#   the migration that ships with the new version breaks every query of the old
#   version that reads or writes it (including `SELECT *` mapped onto a model and
#   INSERTs listing the column). Drop a column only in a contract-phase
#   migration, deployed after no running version uses the column. A column of a
#   table created earlier in the same file or in a pending file of the change is
#   not judged. High: the old version, still serving during the rollout, fails
#   on every query that touches the column, and a rollback cannot restore its
#   data.
# scope: package
# custom:
#   id: migration.drop_column
#   severity: high
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Ship the code that stops using the column first, then drop the column in a
#     separate contract-phase migration of a later deployment. Until then leave
#     the column in place (make it nullable or give it a default if new code no
#     longer writes it).
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     -- contract phase, after no running version reads users.nickname
#     ALTER TABLE users DROP COLUMN nickname;
#   example_disallowed: |
#     -- expand phase, shipped with the version that stops reading it
#     ALTER TABLE users DROP COLUMN nickname;
package rollguard.migration.drop_column

import data.rollguard.lib.migration

violation contains {"msg": msg, "details": d} if {
	migration.expand_phase
	some s in migration.statements
	s.operation == "drop_column"
	migration.on_existing_table(s)
	d := object.union(migration.details(s), {"column": object.get(s, "column", null), "phase": object.get(migration.file, "phase", null)})
	msg := migration.message(s, sprintf(
		"%s is dropped from %s in an expand-phase migration; the old version, still serving during the rollout, reads and writes it",
		[migration.column_display(s), migration.table_display(s)],
	))
}
