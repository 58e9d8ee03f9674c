# METADATA
# title: Risky changes carry a change-approval reference
# description: >-
#   Scores the change to the environment selected with --env and asks for a
#   change-approval reference (a CAB ticket) when the score reaches the
#   threshold. The score adds: the environment's risk (risk_weights), each
#   workload rolled out (workload_weight), each service beyond the first
#   (service_weight), each destructive migration file (a contract-phase file
#   or one with a statement in destructive_operations;
#   destructive_migration_weight), and each critical finding of the change that
#   a waiver silenced (waived_critical_weight). The reference comes from
#   `rollguard check --approval CHG-1234` or an annotation
#   `rollguard.io/change-approval` on an object of the change, and is recorded
#   with the decision. High: it fires only when the configured risk score is
#   reached, and stopping an unapproved risky change to that environment is what
#   the threshold is for.
# scope: package
# custom:
#   id: governance.change_approval
#   severity: high
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:CM-4", "ISO27001:A.8.32"]
#   remediation: >-
#     Get the change approved and pass the reference: `rollguard check --env
#     prod --approval CHG-1234`, or annotate an object of the change with
#     `rollguard.io/change-approval: CHG-1234`. Or make the change smaller:
#     split destructive migrations and unrelated services into their own changes.
#   applies_to: [ChangeRequest]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       threshold:
#         type: integer
#         minimum: 0
#         default: 10
#         description: Score at which a change needs an approval reference.
#       risk_weights:
#         type: object
#         additionalProperties: false
#         properties:
#           low: {type: integer, minimum: 0}
#           medium: {type: integer, minimum: 0}
#           high: {type: integer, minimum: 0}
#         default: {low: 0, medium: 2, high: 5}
#         description: Points for the environment's risk.
#       workload_weight:
#         type: integer
#         minimum: 0
#         default: 1
#         description: Points per workload rolled out.
#       service_weight:
#         type: integer
#         minimum: 0
#         default: 1
#         description: Points per service touched beyond the first.
#       destructive_migration_weight:
#         type: integer
#         minimum: 0
#         default: 4
#         description: Points per destructive migration file.
#       waived_critical_weight:
#         type: integer
#         minimum: 0
#         default: 3
#         description: Points per critical finding silenced by a waiver.
#       destructive_operations:
#         type: array
#         items: {type: string}
#         default: [drop_column, drop_table, rename_column, rename_table, alter_column_type, truncate]
#         description: Statement operations that make a migration file destructive.
#   example_allowed: |
#     # rollguard check k8s/ migrations/ --env prod (risk high 5 + 2 workloads 2 +
#     # V8__drop_nickname.sql 4 = 11), approved on one object of the change:
#     apiVersion: apps/v1
#     kind: Deployment
#     metadata:
#       name: web
#       annotations:
#         rollguard.io/change-approval: CHG-1234
#   example_disallowed: |
#     # the same change, without an approval reference (or --approval CHG-1234)
#     apiVersion: apps/v1
#     kind: Deployment
#     metadata:
#       name: web
package rollguard.governance.change_approval

change := input.artifact

environment := data.rollguard.context.environment

default_operations := ["drop_column", "drop_table", "rename_column", "rename_table", "alter_column_type", "truncate"]

destructive_operations := {op | some op in input.parameters.destructive_operations} if {
	is_array(input.parameters.destructive_operations)
} else := {op | some op in default_operations}

weight(name, fallback) := w if {
	w := input.parameters[name]
	is_number(w)
} else := fallback

risk_points := w if {
	w := input.parameters.risk_weights[environment.risk]
	is_number(w)
} else := object.get({"low": 0, "medium": 2, "high": 5}, environment.risk, 0)

threshold := weight("threshold", 10)

workloads := count(object.get(change, "workloads", []))

services := count(object.get(change, "services", []))

extra_services := services - 1 if services > 1 else := 0

destructive := sort([m.name |
	some m in object.get(change, "migrations", [])
	destructive_migration(m)
])

destructive_migration(m) if m.phase == "contract"

destructive_migration(m) if {
	some op in m.operations
	op in destructive_operations
}

waived_critical := count(object.get(change, "waived_critical", []))

parts := {
	"risk": risk_points,
	"workloads": workloads * weight("workload_weight", 1),
	"services": extra_services * weight("service_weight", 1),
	"destructive_migrations": count(destructive) * weight("destructive_migration_weight", 4),
	"waived_critical": waived_critical * weight("waived_critical_weight", 3),
}

score := sum([p | some p in parts])

approved if {
	reference := change.approval.reference
	is_string(reference)
	reference != ""
}

violation contains {"msg": msg, "details": d} if {
	score >= threshold
	not approved
	d := {
		"environment": environment.name,
		"score": score,
		"threshold": threshold,
		"parts": parts,
		"workloads": workloads,
		"services": services,
		"destructive_migrations": destructive,
		"waived_critical": waived_critical,
	}
	msg := sprintf(
		"change to %s scores %v (threshold %v) and has no change-approval reference: risk %s %v + %v workload(s) %v + %v service(s) beyond the first %v + %v destructive migration(s) %v + %v waived critical finding(s) %v; pass --approval <reference> or annotate an object with rollguard.io/change-approval",
		[
			environment.name, score, threshold,
			environment.risk, parts.risk,
			workloads, parts.workloads,
			extra_services, parts.services,
			count(destructive), parts.destructive_migrations,
			waived_critical, parts.waived_critical,
		],
	)
}
