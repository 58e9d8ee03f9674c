# METADATA
# title: Enough revisions are kept to roll back
# description: >-
#   `kubectl rollout undo` and Argo Rollouts' abort go back to an earlier
#   revision kept by the controller (old ReplicaSets for Deployments and
#   Rollouts, ControllerRevisions for StatefulSets and DaemonSets). A
#   revisionHistoryLimit set below min_revisions throws those away, so a bad
#   release cannot be rolled back quickly. An unset limit defaults to 10 and
#   passes. Covers Deployments, StatefulSets, DaemonSets and Argo Rollouts.
#   Medium because a short history slows a rollback (redeploy the previous
#   manifest instead of `kubectl rollout undo`) but does not prevent it.
# scope: package
# custom:
#   id: k8s.revision_history
#   severity: medium
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-2(3)", "NIST-800-53:CP-10", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Remove spec.revisionHistoryLimit (default 10) or set it to at least
#     {{ min_revisions }}.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_revisions:
#         type: integer
#         minimum: 0
#         default: 2
#         description: Smallest revisionHistoryLimit accepted when it is set.
#   example_allowed: |
#     spec:
#       revisionHistoryLimit: 5
#   example_disallowed: |
#     spec:
#       revisionHistoryLimit: 0
package rollguard.k8s.revision_history

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": d} if {
	limit := k8s.obj.spec.revisionHistoryLimit
	is_number(limit)
	limit < min_revisions
	d := {"revision_history_limit": limit, "min_revisions": min_revisions, "path": "spec.revisionHistoryLimit"}
	msg := sprintf(
		"revisionHistoryLimit is %v, below the minimum of %v: too few earlier revisions are kept to roll back to",
		[limit, min_revisions],
	)
}

min_revisions := n if {
	n := input.parameters.min_revisions
	is_number(n)
} else := 2
