# METADATA
# title: Replicas are spread across nodes
# description: >-
#   Several replicas only protect a rollout or a node drain if they do not all
#   run on the same node. A workload with 2 or more replicas needs either
#   podAntiAffinity on topologyKey kubernetes.io/hostname (required or
#   preferred) or topologySpreadConstraints; without them the scheduler may
#   pack every replica onto one node, and draining or losing that node takes
#   them all down at once. A podAntiAffinity term counts only when its
#   labelSelector selects the pod's own template labels (matchLabels and
#   matchExpressions In, NotIn, Exists, DoesNotExist; an empty selector selects
#   every pod, a missing one none, and mismatchLabelKeys on a label the pod
#   carries excludes its own replicas): a term that selects other pods keeps
#   the replicas away from those, not from each other. Covers Deployments,
#   StatefulSets, ReplicaSets, ReplicationControllers, Argo Rollouts and
#   DeploymentConfigs (DaemonSets already run one pod per node). Medium because
#   the default scheduler already spreads replicas softly, and the risk is a
#   correlated node loss rather than the rollout itself.
# scope: package
# custom:
#   id: k8s.spread
#   severity: medium
#   controls: ["SOC2:A1.1", "ISO27001:A.8.14", "NIST-800-53:SC-36", "NIST-800-53:CP-10"]
#   remediation: >-
#     Add a topologySpreadConstraint with topologyKey kubernetes.io/hostname
#     (maxSkew 1) and a labelSelector matching the pods, or a
#     podAntiAffinity term on topologyKey kubernetes.io/hostname whose
#     labelSelector matches the pod template's own labels.
#   case_remediation:
#     no_spread: >-
#       Spread the {{ replicas }} replicas over nodes: add a
#       topologySpreadConstraint with topologyKey kubernetes.io/hostname
#       (maxSkew 1) and a labelSelector matching the pod template labels, or a
#       podAntiAffinity term on topologyKey kubernetes.io/hostname whose
#       labelSelector matches them.
#     anti_affinity_misses_own_pods: >-
#       Make the labelSelector of the podAntiAffinity term on
#       kubernetes.io/hostname match the pod template's own labels, or add a
#       topologySpreadConstraint with topologyKey kubernetes.io/hostname
#       (maxSkew 1), so the {{ replicas }} replicas keep away from each other.
#   applies_to: [Deployment, StatefulSet, ReplicaSet, ReplicationController, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     replicas: 3
#     template:
#       spec:
#         topologySpreadConstraints:
#         - maxSkew: 1
#           topologyKey: kubernetes.io/hostname
#           whenUnsatisfiable: DoNotSchedule
#           labelSelector:
#             matchLabels: {app.kubernetes.io/name: web}
#   example_disallowed: |
#     replicas: 3
#     template:
#       spec:
#         containers: [{name: web, image: registry.example.com/web:1.4.2}]
package rollguard.k8s.spread

import data.rollguard.lib.k8s

hostname_key := "kubernetes.io/hostname"

# One clause, its cheapest test first: nearly every spread workload has a
# topologySpreadConstraint, which clears it at once. Which finding it is (no spread at all, or
# anti-affinity that misses the pod's own labels) is worked out after.
violation contains {"msg": msg, "details": details} if {
	not spread_constrained
	k8s.obj_replicas >= 2
	k8s.kind in spread_kinds
	not anti_affinity_spread
	[msg, details] := finding
}

finding := [msg, details] if {
	count(hostname_terms) == 0
	details := {
		"replicas": k8s.obj_replicas,
		"topology_key": hostname_key,
		"case": "no_spread",
		"path": sprintf("%s.topologySpreadConstraints", [k8s.obj_pod_spec_path]),
	}
	msg := sprintf(
		"%v replicas have neither podAntiAffinity on %s nor topologySpreadConstraints: one node drain can take them all down",
		[k8s.obj_replicas, hostname_key],
	)
}

# Anti-affinity on the hostname that selects other pods only.
finding := [msg, details] if {
	count(hostname_terms) > 0
	details := {
		"replicas": k8s.obj_replicas,
		"topology_key": hostname_key,
		"anti_affinity": [{"field": t.field, "labelSelector": object.get(t.term, "labelSelector", null)} | some t in hostname_terms],
		"pod_labels": k8s.obj_pod_labels,
		"case": "anti_affinity_misses_own_pods",
		"path": sprintf("%s.labelSelector", [hostname_terms[0].field]),
	}
	msg := sprintf(
		"%v replicas have podAntiAffinity on %s whose labelSelector does not select the pod's own labels (%s), and no topologySpreadConstraints: it keeps them away from other pods, not from each other, so one node drain can take them all down",
		[k8s.obj_replicas, hostname_key, labels_text(k8s.obj_pod_labels)],
	)
}

spread_kinds := {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Rollout", "DeploymentConfig"}

# topologySpreadConstraints is a non-empty list: only a list has an element 0 (`_ =` rather
# than testing the element, which may be false).
spread_constrained if {
	_ = k8s.obj_pod_spec.topologySpreadConstraints[0]
}

anti_affinity_spread if {
	some t in hostname_terms
	selects_own_pods(t.term)
}

anti_affinity_field := sprintf("%s.affinity.podAntiAffinity", [k8s.obj_pod_spec_path])

# podAntiAffinity terms on the hostname, required and preferred, with the field they sit in.
hostname_terms := array.concat(
	[{"field": sprintf("%s.requiredDuringSchedulingIgnoredDuringExecution[%d]", [anti_affinity_field, i]), "term": term} |
		some i, term in anti_affinity("requiredDuringSchedulingIgnoredDuringExecution")
		is_object(term)
		term.topologyKey == hostname_key
	],
	[{"field": sprintf("%s.preferredDuringSchedulingIgnoredDuringExecution[%d].podAffinityTerm", [anti_affinity_field, i]), "term": term} |
		some i, weighted in anti_affinity("preferredDuringSchedulingIgnoredDuringExecution")
		term := weighted.podAffinityTerm
		is_object(term)
		term.topologyKey == hostname_key
	],
)

anti_affinity(field) := terms if {
	terms := k8s.obj_pod_spec.affinity.podAntiAffinity[field]
	is_array(terms)
} else := []

# Whether a pod affinity term's labelSelector selects the pod's own labels (Kubernetes
# LabelSelector semantics: a missing or null selector selects nothing, an empty one everything).
selects_own_pods(term) if {
	selector := term.labelSelector
	is_object(selector)
	labels := k8s.obj_pod_labels
	match_labels := value_or(selector, "matchLabels", {})
	is_object(match_labels)
	object.subset(labels, match_labels)
	expressions := value_or(selector, "matchExpressions", [])
	is_array(expressions)
	every expr in expressions {
		is_object(expr)
		k8s.expression_matches(expr, labels)
	}
	not excludes_own_pods(term, labels)
}

# mismatchLabelKeys adds `key NotIn (the pod's own value)`, which leaves out its own replicas.
excludes_own_pods(term, labels) if {
	keys := term.mismatchLabelKeys
	is_array(keys)
	some key in keys
	is_string(key)
	labels[key]
}

value_or(o, key, fallback) := o[key] if {
	o[key] != null
} else := fallback

labels_text(labels) := "no labels" if {
	count(labels) == 0
} else := concat(", ", sort([sprintf("%s=%v", [k, v]) | some k, v in labels]))
