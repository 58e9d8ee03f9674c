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

# The workload rules look at the budgets selecting its pods first: a compliant workload has
# one that allows evictions, and then its replica count is never needed.

# A replicated workload whose pods no budget protects.
violation contains {"msg": msg, "details": d} if {
	selecting == set()
	n := replicas
	n >= 2
	d := {"replicas": n, "namespace": k8s.namespace, "case": "no_budget", "path": pod_labels_path}
	msg := sprintf("runs %d replicas but no PodDisruptionBudget in namespace %q selects its pods", [n, k8s.namespace])
}

# A replicated workload selected by a budget that allows no voluntary eviction
# of its pods: the PodDisruptionBudget-side rules below catch the same budget
# when it is deployed after the workload.
violation contains {"msg": msg, "details": d} if {
	some pdb in selecting
	v := pdb.spec.maxUnavailable
	# The usual setting, 1, is turned away without the call.
	v != 1
	is_zero(v)
	n := replicas
	n >= 1
	is_string(pdb.metadata.name)
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
	some pdb in selecting
	v := pdb.spec.minAvailable
	n := replicas
	n >= 1
	min_available_blocks(v, n)
	is_string(pdb.metadata.name)
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

# A budget under review: one test of the kind instead of one per rule. The kind is k8s.kind
# spelt out, an equality on the input that OPA's rule index decides without entering the
# rule: the request's kind, else (a request naming none) the object's.
violation contains v if {
	input.review.kind.kind == "PodDisruptionBudget"
	some v in budget_violation
}

violation contains v if {
	input.review.object.kind == "PodDisruptionBudget"
	not request_names_kind
	some v in budget_violation
}

# A rule to negate: on OPA, `not is_string(x)` with x undefined is not true.
request_names_kind if is_string(input.review.kind.kind)

budget_violation contains {"msg": msg, "details": d} if {
	v := k8s.obj.spec.maxUnavailable
	is_zero(v)
	d := {"field": "maxUnavailable", "value": v, "case": "blocks_eviction", "path": "spec.maxUnavailable"}
	msg := sprintf("maxUnavailable is %v: no pod can ever be evicted voluntarily, so node drains and cluster upgrades hang", [v])
}

budget_violation contains {"msg": msg, "details": d} if {
	v := k8s.obj.spec.minAvailable
	full_percentage(v)
	d := {"field": "minAvailable", "value": v, "case": "blocks_eviction", "path": "spec.minAvailable"}
	msg := sprintf("minAvailable is %v: every selected pod must stay up, so no pod can be evicted voluntarily", [v])
}

budget_violation contains {"msg": msg, "details": d} if {
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

# Replicas of the workload under review; undefined for other kinds, and for a workload
# without a pod template (an Argo Rollout with a workloadRef), so the workload rules stop here.
replicas := effective_replicas(k8s.obj) if {
	covered_kinds[k8s.kind]
	has_template(k8s.obj)
}

# The pod template labels of the workload under review: what a budget selects.
pod_labels_path := sprintf("%s.labels", [k8s.obj_pod_metadata_path])

# Budgets of the namespace that select the pods of the workload under review: the candidates
# of k8s.selector_candidates, those found through a pod label and the others, each matched
# once. Also computed for a budget under review (no pod labels), which no rule then reads.
selecting contains pdb if {
	ns := k8s.namespace
	labels := k8s.obj_pod_labels
	# By the index's label keys, fewer than a pod's labels (budgets mostly select by one key).
	some k, by_value in data.inventory.rollguard_selectors[ns].PodDisruptionBudget.by_label
	some [api, name] in by_value[labels[k]]
	pdb := data.inventory.namespace[ns][api].PodDisruptionBudget[name]
	pdb_selects(pdb, labels)
}

# Budgets whose selector has no label pair to index it by.
selecting contains pdb if {
	ns := k8s.namespace
	some [api, name] in data.inventory.rollguard_selectors[ns].PodDisruptionBudget.unindexed
	pdb := data.inventory.namespace[ns][api].PodDisruptionBudget[name]
	pdb_selects(pdb, k8s.obj_pod_labels)
}

# Without rollguard's index of the namespace's budget selectors (Gatekeeper has none), every
# budget of the namespace.
selecting contains pdb if {
	not data.inventory.rollguard_selectors[k8s.namespace].PodDisruptionBudget
	some pdb in data.inventory.namespace[k8s.namespace][_].PodDisruptionBudget
	pdb_selects(pdb, k8s.obj_pod_labels)
}

# minAvailable (a count, or a percentage rounded up) that keeps every one of n
# replicas up.
min_available_blocks(v, _) if full_percentage(v)

min_available_blocks(v, n) if {
	not full_percentage(v)
	k8s.scaled_value(v, n, true) >= n
}

# The usual selector, matchLabels alone, is matched without the general rule.
pdb_selects(pdb, labels) if {
	{"matchLabels": match_labels} := pdb.spec.selector
	is_object(match_labels)
	match_labels != {}
	object.subset(labels, match_labels)
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
