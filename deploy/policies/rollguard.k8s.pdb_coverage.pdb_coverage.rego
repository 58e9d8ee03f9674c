# METADATA
# title: Replicated workloads have a PodDisruptionBudget that allows evictions
# description: >-
#   A rolling update replaces pods one by one while node drains, cluster upgrades
#   and autoscaler scale-downs evict pods at the same time. Without a
#   PodDisruptionBudget those evictions can take down every old and new replica
#   at once; with a budget that allows no eviction at all (maxUnavailable 0,
#   minAvailable 100% or minAvailable not below the replica count) drains hang
#   and upgrades stall. Judges Deployments, StatefulSets, ReplicaSets,
#   ReplicationControllers and Argo Rollouts with two or more replicas
#   (spec.replicas, or the highest minReplicas of the HorizontalPodAutoscalers
#   scaling it when spec.replicas is unset), each of them also against the
#   budgets of its namespace that select its pods, and PodDisruptionBudgets
#   against the workloads they select; a blocking budget is therefore reported
#   whichever of the two is deployed later. DaemonSets, Jobs and bare Pods are
#   left out: a budget cannot keep them running. High: without a budget a node
#   drain during the rollout can evict every remaining replica at once, and a
#   budget that allows no eviction stalls drains and cluster upgrades.
# scope: package
# custom:
#   id: k8s.pdb_coverage
#   severity: high
#   controls: ["SOC2:A1.2", "SOC2:CC8.1", "ISO27001:A.8.14", "NIST-800-53:CP-10"]
#   remediation: >-
#     Add a policy/v1 PodDisruptionBudget in the workload's namespace whose
#     spec.selector matches the pod template labels, with maxUnavailable: 1 (or a
#     percentage such as 25%), or a minAvailable lower than the replica count.
#     Never use maxUnavailable: 0 or minAvailable: 100%.
#   case_remediation:
#     no_budget: >-
#       Add a policy/v1 PodDisruptionBudget to namespace {{ namespace }} whose
#       spec.selector matches the pod template labels, with maxUnavailable: 1
#       (or a percentage such as 25%) or a minAvailable below the
#       {{ replicas }} replicas.
#     blocking_budget: >-
#       Relax PodDisruptionBudget {{ pdb }}: replace {{ field }} {{ value }}
#       with maxUnavailable: 1 (or a percentage such as 25%), or a minAvailable
#       below the {{ replicas }} replicas, so a node drain can evict a pod.
#     blocks_eviction: >-
#       Replace {{ field }} {{ value }} with maxUnavailable: 1 (or a percentage
#       such as 25%), or a minAvailable below the replica count of the pods the
#       budget selects.
#     min_available_not_below_replicas: >-
#       Set minAvailable below the {{ replicas }} replicas of {{ workload }}, or
#       use maxUnavailable: 1 (or a percentage such as 25%) instead.
#   applies_to: [Deployment, StatefulSet, ReplicaSet, ReplicationController, Rollout, PodDisruptionBudget]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {PodDisruptionBudget: [Deployment, StatefulSet, ReplicaSet, ReplicationController, Rollout, HorizontalPodAutoscaler], "*": [PodDisruptionBudget, HorizontalPodAutoscaler]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     kind: PodDisruptionBudget
#     spec:
#       maxUnavailable: 1
#       selector:
#         matchLabels: {app.kubernetes.io/name: checkout}
#   example_disallowed: |
#     kind: PodDisruptionBudget
#     spec:
#       maxUnavailable: 0
#       selector:
#         matchLabels: {app.kubernetes.io/name: checkout}
package rollguard.k8s.pdb_coverage

import data.rollguard.lib.k8s

covered_kinds := {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Rollout"}

# A replicated workload whose pods no budget protects.
violation contains {"msg": msg, "details": d} if {
	covered_kinds[k8s.kind]
	has_template(k8s.obj)
	n := effective_replicas(k8s.obj)
	n >= 2
	labels := k8s.obj_pod_labels
	not protected(labels)
	d := {"replicas": n, "namespace": k8s.namespace, "case": "no_budget", "path": pod_labels_path}
	msg := sprintf("runs %d replicas but no PodDisruptionBudget in namespace %q selects its pods", [n, k8s.namespace])
}

# A replicated workload selected by a budget that allows no voluntary eviction
# of its pods: the PodDisruptionBudget-side rules below catch the same budget
# when it is deployed after the workload.
violation contains {"msg": msg, "details": d} if {
	some pdb in selecting_budgets
	v := pdb.spec.maxUnavailable
	is_zero(v)
	n := effective_replicas(k8s.obj)
	n >= 1
	d := {
		"pdb": pdb.metadata.name,
		"field": "maxUnavailable",
		"value": v,
		"replicas": n,
		"case": "blocking_budget",
		"path": pod_labels_path,
	}
	msg := sprintf("PodDisruptionBudget %s selects its pods with maxUnavailable %v: none of its %d replicas can be evicted voluntarily, so node drains and cluster upgrades hang", [pdb.metadata.name, v, n])
}

violation contains {"msg": msg, "details": d} if {
	some pdb in selecting_budgets
	v := pdb.spec.minAvailable
	n := effective_replicas(k8s.obj)
	n >= 1
	min_available_blocks(v, n)
	d := {
		"pdb": pdb.metadata.name,
		"field": "minAvailable",
		"value": v,
		"replicas": n,
		"case": "blocking_budget",
		"path": pod_labels_path,
	}
	msg := sprintf("PodDisruptionBudget %s selects its pods with minAvailable %v, not below its %d replicas: no pod can be evicted voluntarily", [pdb.metadata.name, v, n])
}

violation contains {"msg": msg, "details": d} if {
	k8s.kind == "PodDisruptionBudget"
	v := k8s.obj.spec.maxUnavailable
	is_zero(v)
	d := {"field": "maxUnavailable", "value": v, "case": "blocks_eviction", "path": "spec.maxUnavailable"}
	msg := sprintf("maxUnavailable is %v: no pod can ever be evicted voluntarily, so node drains and cluster upgrades hang", [v])
}

violation contains {"msg": msg, "details": d} if {
	k8s.kind == "PodDisruptionBudget"
	v := k8s.obj.spec.minAvailable
	full_percentage(v)
	d := {"field": "minAvailable", "value": v, "case": "blocks_eviction", "path": "spec.minAvailable"}
	msg := sprintf("minAvailable is %v: every selected pod must stay up, so no pod can be evicted voluntarily", [v])
}

violation contains {"msg": msg, "details": d} if {
	k8s.kind == "PodDisruptionBudget"
	v := k8s.obj.spec.minAvailable
	not full_percentage(v)
	some wkind in covered_kinds
	some w in k8s.inventory(k8s.namespace, wkind)
	has_template(w)
	is_string(w.metadata.name)
	pdb_selects(k8s.obj, k8s.pod_labels(w))
	n := effective_replicas(w)
	n >= 1
	required := k8s.scaled_value(v, n, true)
	required >= n
	d := {
		"field": "minAvailable",
		"value": v,
		"workload": sprintf("%s/%s", [wkind, w.metadata.name]),
		"replicas": n,
		"case": "min_available_not_below_replicas",
		"path": "spec.minAvailable",
	}
	msg := sprintf("minAvailable %v is not below the %d replicas of %s %s: no pod can be evicted voluntarily", [v, n, wkind, w.metadata.name])
}

has_template(wl) if is_object(wl.spec.template)

# The pod template labels of the workload under review: what a budget selects.
pod_labels_path := sprintf("%s.labels", [k8s.obj_pod_metadata_path])

# Budgets of the namespace that select the pods of the workload under review.
selecting_budgets contains pdb if {
	covered_kinds[k8s.kind]
	has_template(k8s.obj)
	some pdb in k8s.selector_candidates(k8s.namespace, "PodDisruptionBudget", k8s.obj_pod_labels)
	is_string(pdb.metadata.name)
	pdb_selects(pdb, k8s.obj_pod_labels)
}

# minAvailable (a count, or a percentage rounded up) that keeps every one of n
# replicas up.
min_available_blocks(v, _) if full_percentage(v)

min_available_blocks(v, n) if {
	not full_percentage(v)
	k8s.scaled_value(v, n, true) >= n
}

protected(labels) if {
	some pdb in k8s.selector_candidates(k8s.namespace, "PodDisruptionBudget", labels)
	pdb_selects(pdb, labels)
}

pdb_selects(pdb, labels) if k8s.selector_matches(pdb.spec.selector, labels)

# In policy/v1 an empty selector selects every pod of the namespace; in
# policy/v1beta1 it selects none, and a missing selector never selects.
pdb_selects(pdb, _) if {
	pdb.apiVersion == "policy/v1"
	empty_selector(pdb.spec.selector)
}

empty_selector(s) if {
	is_object(s)
	k8s.is_empty(object.get(s, "matchLabels", {}))
	k8s.is_empty(object.get(s, "matchExpressions", []))
}

is_zero(v) if v == 0

is_zero(v) if {
	is_string(v)
	regex.match(`^0+%?$`, v)
}

full_percentage(v) if {
	is_string(v)
	regex.match(`^[0-9]+%$`, v)
	to_number(trim_suffix(v, "%")) >= 100
}

# Replicas the workload runs with: spec.replicas, else the highest minReplicas of
# the HorizontalPodAutoscalers of the namespace that scale it, else Kubernetes' default of 1.
effective_replicas(wl) := wl.spec.replicas if {
	is_number(wl.spec.replicas)
} else := n if {
	mins := [m |
		some hpa in k8s.inventory(k8s.namespace, "HorizontalPodAutoscaler")
		hpa.spec.scaleTargetRef.kind == wl.kind
		hpa.spec.scaleTargetRef.name == wl.metadata.name
		m := hpa_min_replicas(hpa)
	]
	count(mins) > 0
	n := max(mins)
} else := 1

hpa_min_replicas(hpa) := hpa.spec.minReplicas if {
	is_number(hpa.spec.minReplicas)
} else := 1 if {
	not has_min_replicas(hpa)
}

has_min_replicas(hpa) if hpa.spec.minReplicas != null
