# METADATA
# title: A real run takes no ACCESS EXCLUSIVE lock on an existing table
# description: >-
#   Facts from running the migration against a real database (observed.locks):
#   a statement that held an ACCESS EXCLUSIVE lock on a table that existed
#   before the migration blocked every read and write of both running versions
#   for as long as it held it, however the SQL looks. Relations created by the
#   change itself are not judged, nor statements that ran for less than
#   min_ms milliseconds (0 by default: every such lock is reported). Statements
#   that were not observed are left to the other migration policies. Medium
#   because nearly every ALTER TABLE, a nullable ADD COLUMN included, takes an
#   ACCESS EXCLUSIVE lock for milliseconds: the harm lies in holding it while
#   rewriting (migration.observed_rewrite, high) or queueing it behind a long
#   transaction (migration.lock_timeout), and min_ms reports only slow
#   statements.
# scope: package
# custom:
#   id: migration.observed_lock
#   severity: medium
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Rewrite the statement in a form that takes a weaker lock (CONCURRENTLY,
#     NOT VALID then VALIDATE, expand and contract), or run it with a short
#     lock_timeout in a maintenance window and waive the finding with the
#     reason.
#   applies_to: [MigrationFile]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_ms:
#         type: number
#         minimum: 0
#         default: 0
#         description: Report only statements whose observed run took at least this many milliseconds.
#   example_allowed: |
#     -- observed: ShareUpdateExclusiveLock on users
#     CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
#   example_disallowed: |
#     -- observed: AccessExclusiveLock on users
#     ALTER TABLE users ALTER COLUMN id TYPE bigint;
package rollguard.migration.observed_lock

import data.rollguard.lib.migration

min_ms := input.parameters.min_ms if is_number(input.parameters.min_ms) else := 0

violation contains {"msg": msg, "details": d} if {
	some s in migration.statements
	s.observed.table_existed == true
	long_enough(s.observed)
	some lock in s.observed.locks
	lock.mode == "AccessExclusiveLock"
	is_string(lock.relation)
	not migration.created_in_change(lock.relation)
	d := object.union(migration.details(s), {
		"relation": lock.relation,
		"mode": lock.mode,
		"ms": object.get(s.observed, "ms", null),
	})
	msg := sprintf(
		"in a real run, %s held an ACCESS EXCLUSIVE lock on existing table %q, blocking its reads and writes%s",
		[migration.operation_display(s), lock.relation, duration(s.observed)],
	)
}

long_enough(observed) if min_ms <= 0

long_enough(observed) if {
	is_number(observed.ms)
	observed.ms >= min_ms
}

duration(observed) := sprintf(" for %v ms", [observed.ms]) if is_number(observed.ms) else := ""
