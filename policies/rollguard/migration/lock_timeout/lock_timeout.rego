# METADATA
# title: DDL on existing tables runs with a lock_timeout
# description: >-
#   A DDL statement first waits for its table lock behind every running
#   transaction, and while it waits every later query on the table queues behind
#   it: one long-running report turns an instant ALTER into an outage for both
#   running versions. With lock_timeout set the statement gives up instead, and
#   the migration can be retried. Every DDL statement on a table that existed
#   before the change needs a lock_timeout in force (SET or SET LOCAL earlier in
#   the file, and not 0); DROP INDEX and REINDEX count as on an existing table
#   when they do not name it, and so do LOCK TABLE, VACUUM and CLUSTER (which
#   take table locks explicitly); CONCURRENTLY statements and statements on no
#   table (CREATE TYPE, CREATE FUNCTION) are not judged. With require_statement_timeout
#   a statement_timeout must be in force as well. Medium because the statement
#   only causes an outage when a long transaction holds the table at that
#   moment, and the fix is one setting.
# scope: package
# custom:
#   id: migration.lock_timeout
#   severity: medium
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Start the migration with SET lock_timeout = '5s' (SET LOCAL inside a
#     transaction), and retry the migration when it times out, rather than let
#     it queue traffic behind it.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       require_statement_timeout:
#         type: boolean
#         default: false
#         description: Also require a statement_timeout in force before such statements.
#   example_allowed: |
#     SET lock_timeout = '5s';
#     ALTER TABLE users ADD COLUMN nickname text;
#   example_disallowed: |
#     ALTER TABLE users ADD COLUMN nickname text;
package rollguard.migration.lock_timeout

import data.rollguard.lib.migration

# Statements that create something new take no lock anyone else waits for.
creating := {"create_table", "create_type", "create_view", "create_function", "create_extension"}

violation contains {"msg": msg, "details": d} if {
	some s in locking
	not migration.setting_in_force(s.lock_timeout)
	d := object.union(migration.details(s), {"lock_timeout": object.get(s, "lock_timeout", null)})
	msg := migration.message(s, sprintf(
		"%s runs on %s without a lock_timeout; while it waits for its lock, every later query on the table queues behind it",
		[statement_display(s), table_or_index_table(s)],
	))
}

violation contains {"msg": msg, "details": d} if {
	input.parameters.require_statement_timeout == true
	some s in locking
	not migration.setting_in_force(s.statement_timeout)
	d := object.union(migration.details(s), {"statement_timeout": object.get(s, "statement_timeout", null)})
	msg := migration.message(s, sprintf(
		"%s runs on %s without a statement_timeout",
		[statement_display(s), table_or_index_table(s)],
	))
}

locking contains s if {
	some s in migration.statements
	s.is_ddl == true
	is_string(s.operation)
	not s.operation in creating
	not s.concurrently == true
	names_table(s)
	migration.on_existing_table(s)
}

# Statements the loader leaves unclassified but that lock a table by design.
locking contains s if {
	some s in migration.statements
	s.statement_kind in {"lock", "vacuum", "cluster"}
	migration.on_existing_table(s)
}

names_table(s) if is_string(s.table)

names_table(s) if s.operation in {"drop_index", "reindex"}

table_or_index_table(s) := migration.table_display(s) if {
	is_string(s.table)
} else := "the index's table" if {
	s.operation in {"drop_index", "reindex"}
} else := "a table"

statement_display(s) := upper(s.statement_kind) if {
	s.operation == "unknown"
	is_string(s.statement_kind)
} else := migration.operation_display(s)
