# METADATA
# title: Rollouts have a bounded progress deadline
# description: >-
#   progressDeadlineSeconds is how long a rollout may make no progress before
#   the controller marks it failed (condition Progressing=False,
#   ProgressDeadlineExceeded), which is what `kubectl rollout status`, Argo CD,
#   Helm --wait and pipelines wait for. Above max_seconds a stuck rollout looks
#   like a slow one for too long; left unset, the deadline is whatever the API
#   version defaults it to (600s for apps/v1, none at all for the old
#   extensions/v1beta1) instead of a reviewed choice. Covers Deployments and
#   Argo Rollouts.
# scope: package
# custom:
#   id: k8s.progress_deadline
#   severity: medium
#   controls: ["SOC2:CC8.1", "SOC2:CC7.2", "ISO27001:A.8.32", "NIST-800-53:CM-3", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Set spec.progressDeadlineSeconds explicitly to a value no higher than
#     max_seconds (900 by default) that covers a normal rollout of the workload,
#     for example 600.
#   applies_to: [Deployment, Rollout]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       max_seconds:
#         type: integer
#         minimum: 1
#         default: 900
#         description: Longest progressDeadlineSeconds accepted.
#   example_allowed: |
#     spec:
#       progressDeadlineSeconds: 600
#   example_disallowed: |
#     spec:
#       progressDeadlineSeconds: 7200
package rollguard.k8s.progress_deadline

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": {"progress_deadline_seconds": null, "max_seconds": max_seconds}} if {
	not has_deadline
	msg := "progressDeadlineSeconds is not set, so when a stuck rollout is reported as failed is left to the API version's default"
}

violation contains {"msg": msg, "details": {"progress_deadline_seconds": deadline, "max_seconds": max_seconds}} if {
	deadline := k8s.obj.spec.progressDeadlineSeconds
	is_number(deadline)
	deadline > max_seconds
	msg := sprintf(
		"progressDeadlineSeconds is %v, above the maximum of %v: a stuck rollout is reported as failed only that late",
		[deadline, max_seconds],
	)
}

violation contains {"msg": msg, "details": {"progress_deadline_seconds": deadline, "max_seconds": max_seconds}} if {
	deadline := k8s.obj.spec.progressDeadlineSeconds
	deadline != null
	not is_number(deadline)
	msg := sprintf("progressDeadlineSeconds %s is not a number of seconds", [json.marshal(deadline)])
}

has_deadline if k8s.obj.spec.progressDeadlineSeconds != null

max_seconds := n if {
	n := input.parameters.max_seconds
	is_number(n)
} else := 900
