# METADATA
# title: Indexes on existing tables are built and dropped concurrently
# description: >-
#   CREATE INDEX without CONCURRENTLY blocks every write to the table until the
#   index is built (minutes on a large table), DROP INDEX without CONCURRENTLY
#   takes an ACCESS EXCLUSIVE lock on the table, and REINDEX without
#   CONCURRENTLY blocks writes and the reads that use the index; both running
#   versions wait. Tables created earlier in the same file or in a pending file
#   of the change are not judged. A DROP INDEX or REINDEX that does not name
#   its table is judged as on an existing table. CONCURRENTLY inside a
#   transaction block is reported too: PostgreSQL refuses it, so the migration
#   fails halfway through the rollout. REINDEX CONCURRENTLY needs PostgreSQL
#   12. High: a non-concurrent build, drop or reindex blocks the writes (a drop
#   also the reads) of both running versions until it finishes, and CONCURRENTLY
#   in a transaction fails the migration mid-rollout.
# scope: package
# custom:
#   id: migration.index_concurrently
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Use CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY and REINDEX
#     CONCURRENTLY, each in a migration that does not run in a transaction (for
#     example Flyway's executeInTransaction=false, golang-migrate without BEGIN,
#     Django atomic = False, Alembic autocommit_block), and check afterwards that
#     no INVALID index was left behind.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     CREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);
#   example_disallowed: |
#     CREATE INDEX orders_customer_id_idx ON orders (customer_id);
package rollguard.migration.index_concurrently

import data.rollguard.lib.migration

blocking := {
	"create_index": "CREATE INDEX without CONCURRENTLY blocks every write to %s until the index is built",
	"drop_index": "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on %s, blocking its reads and writes",
	"reindex": "REINDEX without CONCURRENTLY blocks writes to %s, and reads that use the index, until it finishes",
}

verbs := {"create_index": "CREATE INDEX", "drop_index": "DROP INDEX", "reindex": "REINDEX"}

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	template := blocking[s.operation]
	not s.concurrently == true
	migration.on_existing_table(s)
	d := object.union(migration.details(s), {"index": migration.index_name(s), "concurrently": false})
	msg := migration.message(s, sprintf(template, [table_or_index_table(s)]))
}

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	verb := verbs[s.operation]
	s.concurrently == true
	s.in_transaction == true
	d := object.union(migration.details(s), {
		"index": migration.index_name(s),
		"concurrently": true,
		"in_transaction": true,
	})
	msg := sprintf(
		"%s CONCURRENTLY cannot run inside a transaction block: PostgreSQL refuses it and the migration fails",
		[verb],
	)
}

table_or_index_table(s) := migration.table_display(s) if is_string(s.table) else := "the index's table"
