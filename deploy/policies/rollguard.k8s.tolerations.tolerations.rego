# METADATA
# title: No blanket tolerations outside DaemonSets
# description: >-
#   A toleration with operator Exists and no key tolerates every taint (of its
#   effect, or of all effects). Pods then schedule onto cordoned nodes that are
#   being drained (node.kubernetes.io/unschedulable) and onto dedicated or
#   control-plane nodes, and are never evicted from nodes that are not ready or
#   unreachable, so replacement replicas land on nodes about to disappear and
#   lost replicas are not rescheduled. Only DaemonSets, which must run on every
#   node, may tolerate everything. Covers Pods, Deployments, StatefulSets,
#   ReplicaSets, ReplicationControllers, Jobs, CronJobs, Argo Rollouts and
#   DeploymentConfigs. Medium because a blanket toleration misplaces pods onto
#   nodes being drained or lost rather than taking capacity down at once, and
#   some agents need one.
# scope: package
# custom:
#   id: k8s.tolerations
#   severity: medium
#   controls: ["ISO27001:A.8.9", "NIST-800-53:CM-6", "NIST-800-53:CM-7"]
#   remediation: >-
#     Replace toleration {{ index }} (operator Exists without a key) with
#     tolerations for the specific taint keys the workload needs (for example
#     key: dedicated, operator: Equal, value: batch, effect: NoSchedule), or run
#     the workload as a DaemonSet if it really must run on every node.
#   applies_to: [Pod, Deployment, StatefulSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     tolerations:
#     - key: dedicated
#       operator: Equal
#       value: web
#       effect: NoSchedule
#   example_disallowed: |
#     tolerations:
#     - operator: Exists
package rollguard.k8s.tolerations

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": d} if {
	k8s.kind in k8s.workload_kinds
	k8s.kind != "DaemonSet"
	tolerations := k8s.obj_pod_spec.tolerations
	is_array(tolerations)
	some i, t in tolerations
	is_object(t)
	t.operator == "Exists"
	not has_key(t)
	effect := effect_of(t)
	d := {"index": i, "effect": effect, "path": sprintf("%s.tolerations[%d]", [k8s.obj_pod_spec_path, i])}
	msg := sprintf("toleration %d has operator Exists and no key, so it tolerates %s", [i, consequence(effect)])
}

has_key(t) if {
	is_string(t.key)
	t.key != ""
}

effect_of(t) := t.effect if {
	is_string(t.effect)
} else := ""

consequence(effect) := "every taint: pods land on cordoned and dedicated nodes and stay on unreachable ones" if {
	effect == ""
} else := "every NoSchedule taint: pods land on cordoned and dedicated nodes" if {
	effect == "NoSchedule"
} else := "every NoExecute taint: pods stay on unreachable and not-ready nodes instead of being rescheduled" if {
	effect == "NoExecute"
} else := sprintf("every %s taint", [effect])
