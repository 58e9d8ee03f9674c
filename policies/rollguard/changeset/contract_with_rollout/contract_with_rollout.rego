# METADATA
# title: Contract-phase migrations do not ship with a rollout
# description: >-
#   While a rollout replaces pods, the old version keeps serving against the
#   migrated database. A contract-phase migration, or any statement that removes
#   or renames what the old version reads (DROP COLUMN, DROP TABLE, RENAME
#   COLUMN, RENAME TABLE, ALTER COLUMN TYPE, TRUNCATE), is only safe once no
#   running version uses it, which a change that also rolls out new pods cannot
#   promise. Judges every migration file of the change when the change also
#   holds a workload that rolls out pods (Deployment, StatefulSet, DaemonSet,
#   Argo Rollout or DeploymentConfig with a container image); each finding
#   points at the statement. Statements on tables created earlier in the same
#   file or in a pending file of the change are not judged. A contract-phase
#   file without such a statement is reported at its first DDL statement. High:
#   old pods still use what the statement removes or renames while the rollout
#   replaces them, and a rollback cannot bring dropped data back.
# scope: package
# custom:
#   id: changeset.contract_with_rollout
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Deploy the code that stops using the column or table first, on its own;
#     ship the contract-phase migration in a later release whose change rolls
#     out no pods that could still be replacing old ones.
#   applies_to: [MigrationFile]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       operations:
#         type: array
#         items: {type: string}
#         default: [drop_column, drop_table, rename_column, rename_table, alter_column_type, truncate]
#         description: Statement operations that remove or change what the old version reads.
#   example_allowed: |
#     # release 2.5: deploy/web.yaml rolls out web:2.5, which stops reading users.nickname
#     # release 2.6: migrations/V8__drop_nickname.sql, no workload in the change
#     ALTER TABLE users DROP COLUMN nickname;
#   example_disallowed: |
#     # one change: deploy/web.yaml (image web:2.5) and migrations/V8__drop_nickname.sql
#     ALTER TABLE users DROP COLUMN nickname;
package rollguard.changeset.contract_with_rollout

import data.rollguard.lib.changeset
import data.rollguard.lib.migration

default_operations := ["drop_column", "drop_table", "rename_column", "rename_table", "alter_column_type", "truncate"]

destructive := {op | some op in migration.string_list(input.parameters, "operations", default_operations)}

# Workloads rolling out in the change, as `Deployment shop/web`, sorted.
rolling := sort([changeset.display(w) | some w in changeset.rollouts])

violation contains {"msg": msg, "details": d} if {
	count(rolling) > 0
	some s in migration.statements
	s.operation in destructive
	migration.on_existing_table(s)
	d := object.union(migration.details(s), {"phase": phase, "workloads": rolling})
	msg := migration.message(s, sprintf(
		"%s on %s ships in the same change as a rollout of %s: old pods still use it while they are replaced; ship the contract step in a later release",
		[migration.operation_display(s), migration.table_display(s), concat(", ", rolling)],
	))
}

violation contains {"msg": msg, "details": d} if {
	count(rolling) > 0
	migration.contract_phase
	not has_destructive
	s := first_ddl
	d := object.union(migration.details(s), {"phase": phase, "workloads": rolling})
	msg := sprintf(
		"contract-phase migration %s ships in the same change as a rollout of %s: old pods still use what it removes while they are replaced; ship the contract step in a later release",
		[changeset.migration_name(migration.file), concat(", ", rolling)],
	)
}

phase := p if {
	p := migration.file.phase
	is_string(p)
} else := "expand"

has_destructive if {
	some s in migration.statements
	s.operation in destructive
}

# The first DDL statement of the file, else its first statement.
first_ddl := ddl[0] if {
	ddl := [s | some s in migration.statements; s.is_ddl == true]
	count(ddl) > 0
} else := migration.statements[0]
