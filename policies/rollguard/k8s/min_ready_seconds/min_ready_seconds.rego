# METADATA
# title: New pods must stay ready a while before they count as available
# description: >-
#   A rollout moves on (and scales down an old pod) as soon as a new pod is
#   available, which with minReadySeconds 0 is the instant it turns Ready. A
#   release that crashes seconds after start then replaces every old pod before
#   anyone notices. minReadySeconds below min_seconds (unset means 0) is
#   reported on Deployments, StatefulSets and Argo Rollouts with 2 or more
#   replicas, and on every DaemonSet (one pod per node, so there are always
#   several). Single-replica workloads are left to k8s.replicas_minimum. Low
#   because readiness probes and the progress deadline already stop most bad
#   rollouts; minReadySeconds only narrows the window for a crash right after
#   start.
# scope: package
# custom:
#   id: k8s.min_ready_seconds
#   severity: low
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Set spec.minReadySeconds to at least {{ min_seconds }}, long enough to
#     catch a crash right after start, for example 10.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_seconds:
#         type: integer
#         minimum: 0
#         default: 5
#         description: Smallest minReadySeconds accepted.
#   example_allowed: |
#     spec:
#       replicas: 3
#       minReadySeconds: 10
#   example_disallowed: |
#     spec:
#       replicas: 3
package rollguard.k8s.min_ready_seconds

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": details} if {
	k8s.kind != "DaemonSet"
	desired := k8s.obj_replicas
	desired >= 2
	seconds := min_ready
	seconds < min_seconds
	details := {"min_ready_seconds": seconds, "min_seconds": min_seconds, "replicas": desired, "path": "spec.minReadySeconds"}
	msg := sprintf(
		"minReadySeconds is %v with %v replicas, below the minimum of %v: a pod that crashes right after turning Ready counts as available",
		[seconds, desired, min_seconds],
	)
}

violation contains {"msg": msg, "details": details} if {
	k8s.kind == "DaemonSet"
	seconds := min_ready
	seconds < min_seconds
	details := {"min_ready_seconds": seconds, "min_seconds": min_seconds, "path": "spec.minReadySeconds"}
	msg := sprintf(
		"minReadySeconds is %v, below the minimum of %v: a pod that crashes right after turning Ready counts as available",
		[seconds, min_seconds],
	)
}

# minReadySeconds; 0 when unset, undefined when malformed (the API server rejects it).
min_ready := n if {
	n := k8s.obj.spec.minReadySeconds
	is_number(n)
} else := 0 if {
	not has_min_ready
}

has_min_ready if k8s.obj.spec.minReadySeconds != null

min_seconds := n if {
	n := input.parameters.min_seconds
	is_number(n)
} else := 5
