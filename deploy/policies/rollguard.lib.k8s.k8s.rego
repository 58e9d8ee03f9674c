# METADATA
# title: Kubernetes helpers
# description: >-
#   Shared helpers for rollguard's Kubernetes policies: pod specs of every
#   workload kind, containers, replicas, label selectors and inventory look-ups.
#   Gatekeeper requires libraries under `lib.`; the template generator rewrites
#   the package prefix.
# scope: package
package rollguard.lib.k8s

# Kinds whose pods are created from a pod template.
template_kinds := {
	"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
	"ReplicationController", "Job", "DeploymentConfig", "Rollout",
}

# Kinds that replace pods in place during a rolling update.
rolling_kinds := {"Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig"}

workload_kinds := template_kinds | {"Pod", "CronJob"}

# The object under review.
obj := input.review.object

kind := input.review.kind.kind if {
	is_string(input.review.kind.kind)
} else := obj.kind

# Namespace of the object under review; "default" when none is given.
namespace := input.review.namespace if {
	is_string(input.review.namespace)
	input.review.namespace != ""
} else := obj.metadata.namespace if {
	is_string(obj.metadata.namespace)
	obj.metadata.namespace != ""
} else := "default"

name := obj.metadata.name if {
	is_string(obj.metadata.name)
} else := input.review.name if {
	is_string(input.review.name)
} else := ""

# Pod spec of a workload object, whatever its kind.
pod_spec(obj) := obj.spec if {
	obj.kind == "Pod"
} else := obj.spec.jobTemplate.spec.template.spec if {
	obj.kind == "CronJob"
} else := obj.spec.template.spec if {
	template_kinds[obj.kind]
	is_object(obj.spec.template.spec)
}

# Pod template metadata (labels and annotations of the pods created).
pod_metadata(obj) := object.get(obj, "metadata", {}) if {
	obj.kind == "Pod"
} else := object.get(obj.spec.jobTemplate.spec.template, "metadata", {}) if {
	obj.kind == "CronJob"
	is_object(obj.spec.jobTemplate.spec.template)
} else := object.get(obj.spec.template, "metadata", {}) if {
	template_kinds[obj.kind]
	is_object(obj.spec.template)
}

pod_labels(obj) := labels if {
	labels := pod_metadata(obj).labels
	is_object(labels)
} else := {}

# Regular (non-init) containers of a workload; malformed lists give none.
containers(obj) := [c |
	list := pod_spec(obj).containers
	is_array(list)
	some c in list
	is_object(c)
]

# Every container including init and ephemeral containers.
all_containers(obj) := array.concat(containers(obj), [c |
	some field in ["initContainers", "ephemeralContainers"]
	list := object.get(pod_spec(obj), field, [])
	is_array(list)
	some c in list
	is_object(c)
])

# The same helpers applied to the object under review. As rules (not function calls) they
# are computed once per document and shared by every policy judging it.
obj_pod_spec := pod_spec(obj)

obj_containers := containers(obj)

obj_all_containers := all_containers(obj)

obj_pod_labels := pod_labels(obj)

obj_replicas := replicas(obj)

# Desired replicas; Kubernetes defaults an unset value to 1.
replicas(obj) := obj.spec.replicas if {
	is_number(obj.spec.replicas)
} else := 1

has_replicas_field(obj) if is_number(obj.spec.replicas)

# matchLabels/matchExpressions selector against a label map (Kubernetes semantics).
selector_matches(selector, labels) if {
	is_object(selector)
	count(object.get(selector, "matchLabels", {})) + count(object.get(selector, "matchExpressions", [])) > 0
	is_object(labels)
	match_labels := object.get(selector, "matchLabels", {})
	is_object(match_labels)
	object.subset(labels, match_labels)
	every expr in object.get(selector, "matchExpressions", []) {
		expression_matches(expr, labels)
	}
}

expression_matches(expr, labels) if {
	expr.operator == "In"
	labels[expr.key] in expr.values
}

expression_matches(expr, labels) if {
	expr.operator == "NotIn"
	not labels[expr.key] in expr.values
}

expression_matches(expr, labels) if {
	expr.operator == "Exists"
	labels[expr.key]
}

expression_matches(expr, labels) if {
	expr.operator == "DoesNotExist"
	not labels[expr.key]
}

# null, {} or []: what Kubernetes reads as "not set" in selectors and rule lists.
is_empty(x) if x in {null, {}, []}

# Plain map selector (Services, ReplicationControllers) against labels.
map_selector_matches(selector, labels) if {
	is_object(selector)
	count(selector) > 0
	is_object(labels)
	object.subset(labels, selector)
}

# Objects of `kind` in namespace `ns` of the inventory, any apiVersion.
inventory(ns, kind) := [o |
	some o in data.inventory.namespace[ns][_][kind]
]

# Human form of the object under review, e.g. `Deployment shop/web`.
display := sprintf("%s %s/%s", [kind, namespace, name])

# Integer or percentage ("25%") of `total`; percentages round up or down.
scaled_value(value, total, round_up) := value if {
	is_number(value)
} else := n if {
	is_string(value)
	regex.match(`^[0-9]+%$`, value)
	p := to_number(trim_suffix(value, "%"))
	round_up
	n := ceil((p * total) / 100)
} else := n if {
	is_string(value)
	regex.match(`^[0-9]+%$`, value)
	p := to_number(trim_suffix(value, "%"))
	not round_up
	n := floor((p * total) / 100)
} else := n if {
	is_string(value)
	regex.match(`^[0-9]+$`, value)
	n := to_number(value)
}

# Objects of `kind` in namespace `ns` whose selector may pick pods labelled `labels`: a
# superset that callers still test with their own selector rules. rollguard's gate indexes
# selectors by one of their label pairs (data.inventory.rollguard_selectors); without that
# index (Gatekeeper) this is every object of the kind, so both give the same findings.
selector_candidates(ns, kind, labels) := [o |
	some ref in candidate_refs(data.inventory.rollguard_selectors[ns][kind], labels)
	o := data.inventory.namespace[ns][ref[0]][kind][ref[1]]
] if {
	is_object(data.inventory.rollguard_selectors[ns][kind])
} else := inventory(ns, kind)

# A set, so an object found through two of its labels comes once, in a stable order.
candidate_refs(index, labels) := {ref |
	is_object(labels)
	some k, v in labels
	some ref in index.by_label[k][v]
} | {ref | some ref in index.unindexed}
