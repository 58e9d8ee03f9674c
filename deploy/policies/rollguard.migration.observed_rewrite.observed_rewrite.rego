# METADATA
# title: A real run rewrites no existing table
# description: >-
#   Facts from running the migration against a real database (observed.rewrote):
#   a statement that rewrote a table that existed before the migration copied
#   every row while holding an ACCESS EXCLUSIVE lock, blocking both running
#   versions for time that grows with the table, and needed disk for a second
#   copy. Tables created by the change itself are not judged; statements that
#   were not observed are left to the other migration policies. High: a real run
#   showed the table is copied under an ACCESS EXCLUSIVE lock, blocking both
#   versions for a time that grows with the table.
# scope: package
# custom:
#   id: migration.observed_rewrite
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Use a form that does not rewrite (a constant default, a binary-compatible
#     type change, a new column backfilled in batches), or schedule the rewrite
#     in a maintenance window and waive the finding with the reason.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     -- observed: no rewrite
#     ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true;
#   example_disallowed: |
#     -- observed: rewrote users
#     ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();
package rollguard.migration.observed_rewrite

import data.rollguard.lib.migration

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.observed.table_existed == true
	is_array(s.observed.rewrote)
	some relation in s.observed.rewrote
	is_string(relation)
	not migration.created_in_change(relation)
	d := object.union(migration.details(s), {"relation": relation, "ms": object.get(s.observed, "ms", null)})
	msg := sprintf(
		"in a real run, %s rewrote existing table %q under an ACCESS EXCLUSIVE lock, blocking its reads and writes",
		[migration.operation_display(s), relation],
	)
}
