# METADATA
# title: Workloads run enough replicas to survive a rollout
# description: >-
#   With a single replica every rollout, node drain or crash takes the service
#   down: there is no other pod to carry traffic while the one pod is replaced.
#   A workload must ask for at least min_replicas, or be scaled by a
#   HorizontalPodAutoscaler (same namespace, scaleTargetRef of the same kind and
#   name, found in the change or the cluster) whose minReplicas (default 1) is at
#   least min_replicas. An unset replicas field counts as 1, as in Kubernetes.
#   When max_replicas is set, a spec.replicas above it is a violation too: a
#   typo such as 100 instead of 10 starves the cluster mid-rollout.
#   Covers Deployments, StatefulSets, ReplicaSets and Argo Rollouts; a
#   ReplicaSet controlled by another object (a Deployment or Rollout, whose
#   old ReplicaSets are scaled to 0 on purpose) is judged through its owner,
#   and so is a Deployment that an Argo Rollout of the same namespace runs
#   through spec.workloadRef (found in the change or the cluster): the Rollout
#   owns the pods and the replica count, and the Deployment only lends its
#   template, usually with 0 replicas. Medium because a single replica still
#   rolls out without downtime under the default maxSurge (k8s.rolling_update
#   judges the strategy), and controllers, leader-elected operators and other
#   singletons run one replica on purpose: the exposure is to drains and
#   crashes, not to the rollout.
# scope: package
# custom:
#   id: k8s.replicas_minimum
#   severity: medium
#   controls: ["SOC2:A1.1", "ISO27001:A.8.14", "NIST-800-53:SC-5", "NIST-800-53:CP-10"]
#   remediation: >-
#     Set spec.replicas to at least min_replicas (2 by default), or scale the
#     workload with a HorizontalPodAutoscaler whose minReplicas is at least
#     min_replicas; keep spec.replicas at or below max_replicas when it is set.
#   case_remediation:
#     below_minimum: >-
#       Set spec.replicas to at least {{ min_replicas }}, or scale the workload
#       with a HorizontalPodAutoscaler whose minReplicas is at least
#       {{ min_replicas }}.
#     hpa_below_minimum: >-
#       Raise minReplicas of HorizontalPodAutoscaler {{ hpa }} from
#       {{ hpa_min_replicas }} to at least {{ min_replicas }}.
#     above_maximum: >-
#       Set spec.replicas to at most {{ max_replicas }}, or raise max_replicas
#       if the workload really needs {{ replicas }}.
#   applies_to: [Deployment, StatefulSet, ReplicaSet, Rollout]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {Deployment: [HorizontalPodAutoscaler], "*": [HorizontalPodAutoscaler]}
#   # Read only to exempt a Deployment a Rollout drives: unsynced, it is judged without them.
#   inventory_optional: {Deployment: [Rollout]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_replicas:
#         type: integer
#         minimum: 1
#         default: 2
#         description: Fewest replicas (or HPA minReplicas) a workload may run.
#       max_replicas:
#         type: [integer, "null"]
#         minimum: 1
#         default: null
#         description: Most replicas spec.replicas may ask for; null sets no upper limit.
#   example_allowed: |
#     kind: Deployment
#     spec:
#       replicas: 3
#   example_disallowed: |
#     kind: Deployment
#     spec:
#       replicas: 1
package rollguard.k8s.replicas_minimum

import data.rollguard.lib.k8s

# The replica counts first: the owner and the autoscalers are looked up only for a workload
# whose count is out of bounds.
violation contains {"msg": msg, "details": d} if {
	desired := k8s.obj_replicas
	desired < min_replicas
	not judged_through_owner
	count(autoscalers) == 0
	d := {"replicas": desired, "min_replicas": min_replicas, "case": "below_minimum", "path": "spec.replicas"}
	msg := sprintf("replicas is %s, below the minimum of %v", [replicas_text, min_replicas])
}

violation contains {"msg": msg, "details": details} if {
	desired := k8s.obj_replicas
	desired < min_replicas
	not judged_through_owner
	count(autoscalers) > 0
	floor_replicas := max({n | some hpa in autoscalers; n := hpa_min_replicas(hpa)})
	floor_replicas < min_replicas
	details := {
		"replicas": desired,
		"min_replicas": min_replicas,
		"hpa": sort([n | some hpa in autoscalers; n := hpa.metadata.name]),
		"hpa_min_replicas": floor_replicas,
		"case": "hpa_below_minimum",
		"path": "spec.replicas",
	}
	msg := sprintf(
		"replicas is %s and the HorizontalPodAutoscaler keeps minReplicas at %v, below the minimum of %v",
		[replicas_text, floor_replicas, min_replicas],
	)
}

violation contains {"msg": msg, "details": d} if {
	is_number(max_replicas)
	desired := k8s.obj.spec.replicas
	k8s.has_replicas_field(k8s.obj)
	desired > max_replicas
	not judged_through_owner
	d := {"replicas": desired, "max_replicas": max_replicas, "case": "above_maximum", "path": "spec.replicas"}
	msg := sprintf("replicas is %v, above the maximum of %v", [desired, max_replicas])
}

judged_through_owner if controlled_replica_set

judged_through_owner if workload_ref_target

controlled_replica_set if {
	k8s.kind == "ReplicaSet"
	owners := k8s.obj.metadata.ownerReferences
	is_array(owners)
	some owner in owners
	owner.controller == true
}

# A Deployment that an Argo Rollout uses as its pod template (spec.workloadRef); Argo scales
# the Deployment down (workloadRef.scaleDown) and runs the Rollout's replicas instead.
workload_ref_target if {
	k8s.kind == "Deployment"
	some rollout in k8s.inventory(k8s.namespace, "Rollout")
	ref := rollout.spec.workloadRef
	ref.apiVersion == "apps/v1"
	ref.kind == "Deployment"
	ref.name == k8s.name
}

min_replicas := n if {
	n := input.parameters.min_replicas
	is_number(n)
} else := 2

# No upper limit unless the parameter is a number.
max_replicas := input.parameters.max_replicas if {
	is_number(input.parameters.max_replicas)
}

replicas_text := sprintf("%v", [k8s.obj_replicas]) if {
	k8s.has_replicas_field(k8s.obj)
} else := "unset (Kubernetes runs 1)"

# HorizontalPodAutoscalers of the namespace that scale the object under review.
autoscalers contains hpa if {
	some hpa in k8s.inventory(k8s.namespace, "HorizontalPodAutoscaler")
	hpa.spec.scaleTargetRef.kind == k8s.kind
	hpa.spec.scaleTargetRef.name == k8s.name
}

hpa_min_replicas(hpa) := hpa.spec.minReplicas if {
	is_number(hpa.spec.minReplicas)
} else := 1
