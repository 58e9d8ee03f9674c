# METADATA
# title: Backfills do not run in a DDL transaction or over a whole table
# description: >-
#   An UPDATE in the same transaction as DDL on an existing table keeps the
#   DDL's lock (usually ACCESS EXCLUSIVE) for as long as the backfill runs, or
#   holds row locks while the DDL queues for its lock: either way both running
#   versions wait. An UPDATE or DELETE without WHERE on an existing table
#   rewrites or locks every row in one long transaction, blocking the old
#   version's writes to them. Bookkeeping tables of migration tools (parameter
#   ignore_tables) and tables created earlier in the same file or in a pending
#   file of the change are not judged. Medium because how long the lock is held
#   depends on how many rows the backfill touches, which the SQL alone does not
#   show.
# scope: package
# custom:
#   id: migration.backfill_in_ddl
#   severity: medium
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Commit the schema change first, then backfill in batches (UPDATE ... WHERE
#     id BETWEEN ... with a commit per batch), from a separate migration or a
#     job, outside the DDL's transaction.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       ignore_tables:
#         type: array
#         items: {type: string}
#         default: ["alembic_version", "schema_migrations", "flyway_schema_history", "django_migrations", "goose_db_version"]
#         description: Tables whose writes are migration bookkeeping, never a backfill.
#   example_allowed: |
#     BEGIN;
#     ALTER TABLE orders ADD COLUMN region text;
#     COMMIT;
#     UPDATE orders SET region = 'eu' WHERE id BETWEEN 1 AND 10000;
#   example_disallowed: |
#     BEGIN;
#     ALTER TABLE orders ADD COLUMN region text;
#     UPDATE orders SET region = 'eu' WHERE region IS NULL;
#     COMMIT;
package rollguard.migration.backfill_in_ddl

import data.rollguard.lib.migration

default_ignored := ["alembic_version", "schema_migrations", "flyway_schema_history", "django_migrations", "goose_db_version"]

ignored := {migration.name_key(t) | some t in migration.string_list(input.parameters, "ignore_tables", default_ignored)}

violation contains {"msg": msg, "details": d} if {
	some s in writes
	s.operation == "update"
	is_number(s.transaction)
	ddl := [x | some x in migration.statements; same_transaction_ddl(x, s)]
	count(ddl) > 0
	d := object.union(migration.details(s), {"transaction": s.transaction, "ddl_lines": [y.line | some y in ddl]})
	msg := migration.message(s, sprintf(
		"UPDATE of %s runs in the same transaction as DDL on an existing table, so the DDL's lock is held for the whole backfill",
		[migration.table_display(s)],
	))
}

violation contains {"msg": msg, "details": d} if {
	some s in writes
	not s.where == true
	not in_ddl_transaction(s)
	d := object.union(migration.details(s), {"where": false})
	msg := migration.message(s, sprintf(
		"%s without WHERE touches every row of %s in one transaction, blocking the old version's writes to them",
		[upper(s.operation), migration.table_display(s)],
	))
}

writes contains s if {
	some s in migration.statements
	s.operation in {"update", "delete"}
	migration.on_existing_table(s)
	is_string(s.table)
	not migration.name_key(s.table) in ignored
}

same_transaction_ddl(x, s) if {
	x.transaction == s.transaction
	x.is_ddl == true
	is_string(x.table)
	migration.on_existing_table(x)
}

# An UPDATE already reported as in a DDL transaction is not reported twice.
in_ddl_transaction(s) if {
	s.operation == "update"
	is_number(s.transaction)
	some x in migration.statements
	same_transaction_ddl(x, s)
}
