# METADATA
# title: Enum values are added outside a transaction before PostgreSQL 12
# description: >-
#   Before PostgreSQL 12, ALTER TYPE ... ADD VALUE cannot run inside a
#   transaction block: the migration fails when its tool wraps the file in a
#   transaction, leaving a half-applied deployment. From PostgreSQL 12 it may
#   run in a transaction (the new value just cannot be used before the commit).
#   The version is the pg_version parameter. Medium because PostgreSQL refuses
#   the statement outright, so the migration fails visibly instead of blocking
#   traffic, and only before PostgreSQL 12.
# scope: package
# custom:
#   id: migration.enum_value
#   severity: medium
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Run ALTER TYPE ... ADD VALUE in a migration that does not run in a
#     transaction (Flyway executeInTransaction=false, Django atomic = False,
#     Alembic autocommit_block), or upgrade to PostgreSQL 12 or later.
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
#     -- no transaction
#     ALTER TYPE order_status ADD VALUE 'refunded';
#   example_disallowed: |
#     BEGIN;
#     ALTER TYPE order_status ADD VALUE 'refunded';
#     COMMIT;
package rollguard.migration.enum_value

import data.rollguard.lib.migration

pg_version := migration.pg_version(input.parameters)

violation contains {"msg": msg, "details": d} if {
	pg_version < 12
	some s in migration.statements
	s.operation == "alter_type_add_value"
	s.in_transaction == true
	d := object.union(migration.details(s), {"in_transaction": true, "pg_version": pg_version})
	msg := sprintf(
		"ALTER TYPE%s ... ADD VALUE runs inside a transaction block, which PostgreSQL %v refuses: the migration fails",
		[type_display(s), pg_version],
	)
}

type_display(s) := sprintf(" %q", [name]) if {
	name := migration.object_name(s)
	is_string(name)
} else := ""
