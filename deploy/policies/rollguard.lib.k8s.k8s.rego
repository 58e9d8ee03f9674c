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

kind := k if {
	k := input.review.kind.kind
	is_string(k)
} else := obj.kind

# Namespace of the object under review; "default" when none is given.
namespace := ns if {
	ns := input.review.namespace
	is_string(ns)
	ns != ""
} else := ns if {
	ns := obj.metadata.namespace
	is_string(ns)
	ns != ""
} else := "default"

name := n if {
	n := obj.metadata.name
	is_string(n)
} else := n if {
	n := input.review.name
	is_string(n)
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
# are computed once per document and shared by every policy judging it. One clause per kind
# (the kinds of template_kinds, written out): OPA's rule index picks the clause of the kind
# under review instead of trying each in turn, the cheapest way to the pod spec.
obj_pod_spec := input.review.object.spec if input.review.object.kind == "Pod"

obj_pod_spec := input.review.object.spec.jobTemplate.spec.template.spec if input.review.object.kind == "CronJob"

obj_pod_spec := s if {
	input.review.object.kind == "Deployment"
	s := input.review.object.spec.template.spec
	is_object(s)
}

obj_pod_spec := s if {
	input.review.object.kind == "StatefulSet"
	s := input.review.object.spec.template.spec
	is_object(s)
}

obj_pod_spec := s if {
	input.review.object.kind == "DaemonSet"
	s := input.review.object.spec.template.spec
	is_object(s)
}

obj_pod_spec := s if {
	input.review.object.kind == "ReplicaSet"
	s := input.review.object.spec.template.spec
	is_object(s)
}

obj_pod_spec := s if {
	input.review.object.kind == "ReplicationController"
	s := input.review.object.spec.template.spec
	is_object(s)
}

obj_pod_spec := s if {
	input.review.object.kind == "Job"
	s := input.review.object.spec.template.spec
	is_object(s)
}

obj_pod_spec := s if {
	input.review.object.kind == "DeploymentConfig"
	s := input.review.object.spec.template.spec
	is_object(s)
}

obj_pod_spec := s if {
	input.review.object.kind == "Rollout"
	s := input.review.object.spec.template.spec
	is_object(s)
}

obj_containers := [c |
	list := obj_pod_spec.containers
	is_array(list)
	some c in list
	is_object(c)
]

# Most pods have neither init nor ephemeral containers: then all of them are obj_containers.
obj_all_containers := obj_containers if {
	not obj_pod_spec.initContainers
	not obj_pod_spec.ephemeralContainers
} else := array.concat(obj_containers, [c |
	some field in ["initContainers", "ephemeralContainers"]
	list := obj_pod_spec[field]
	is_array(list)
	some c in list
	is_object(c)
])

# Where the pod spec of the object under review is, as a path for `details.path` (a finding
# names the line of the field it is about).
default obj_pod_spec_path := "spec.template.spec"

obj_pod_spec_path := "spec" if input.review.object.kind == "Pod"

obj_pod_spec_path := "spec.jobTemplate.spec.template.spec" if input.review.object.kind == "CronJob"

# The path of each container of the object under review, by name: `spec.template.spec.containers[1]`.
# The API server keeps names unique across a pod's containers, init and ephemeral containers; a
# file may still repeat one, and then the first keeps it rather than every policy failing.
obj_container_paths := {name: paths[0] |
	some e in container_path_list
	name := e.name
	paths := [x.path | some x in container_path_list; x.name == name]
}

container_path_list := [{"name": c.name, "path": sprintf("%s.%s[%d]", [obj_pod_spec_path, field, i])} |
	some field in ["containers", "initContainers", "ephemeralContainers"]
	list := object.get(obj_pod_spec, field, [])
	is_array(list)
	some i, c in list
	is_object(c)
	is_string(c.name)
]

# The path of `field` of container `c` of the object under review, for `details.path`:
# container_field_path(c, "image") is `spec.template.spec.containers[1].image`.
container_field_path(c, field) := sprintf("%s.%s", [obj_container_paths[c.name], field])

# Where the pod template's metadata (the pods' labels and annotations) is: `spec.template.metadata`.
default obj_pod_metadata_path := "spec.template.metadata"

obj_pod_metadata_path := "metadata" if input.review.object.kind == "Pod"

obj_pod_metadata_path := "spec.jobTemplate.spec.template.metadata" if input.review.object.kind == "CronJob"

# pod_labels(obj), by kind like obj_pod_spec.
obj_pod_labels := labels if {
	labels := obj_template_labels
	is_object(labels)
} else := {}

obj_template_labels := input.review.object.metadata.labels if input.review.object.kind == "Pod"

obj_template_labels := input.review.object.spec.jobTemplate.spec.template.metadata.labels if input.review.object.kind == "CronJob"

obj_template_labels := input.review.object.spec.template.metadata.labels if input.review.object.kind == "Deployment"

obj_template_labels := input.review.object.spec.template.metadata.labels if input.review.object.kind == "StatefulSet"

obj_template_labels := input.review.object.spec.template.metadata.labels if input.review.object.kind == "DaemonSet"

obj_template_labels := input.review.object.spec.template.metadata.labels if input.review.object.kind == "ReplicaSet"

obj_template_labels := input.review.object.spec.template.metadata.labels if input.review.object.kind == "ReplicationController"

obj_template_labels := input.review.object.spec.template.metadata.labels if input.review.object.kind == "Job"

obj_template_labels := input.review.object.spec.template.metadata.labels if input.review.object.kind == "DeploymentConfig"

obj_template_labels := input.review.object.spec.template.metadata.labels if input.review.object.kind == "Rollout"

# replicas(obj) of the object under review; the quick form first.
obj_replicas := r if {
	r := input.review.object.spec.replicas
	is_number(r)
} else := replicas(obj)

# Desired replicas; Kubernetes defaults an unset value to 1.
replicas(obj) := obj.spec.replicas if {
	is_number(obj.spec.replicas)
} else := 1

has_replicas_field(obj) if is_number(obj.spec.replicas)

# matchLabels/matchExpressions selector against a label map (Kubernetes semantics).
# A malformed selector (matchLabels not an object, matchExpressions not an array, as in a
# neighbour object of the inventory nobody validated) matches nothing: the types are checked
# before count(), which would otherwise stop the whole evaluation with an error.
selector_matches(selector, labels) if {
	is_object(selector)
	match_labels := object.get(selector, "matchLabels", {})
	is_object(match_labels)
	match_expressions := object.get(selector, "matchExpressions", [])
	is_array(match_expressions)
	count(match_labels) + count(match_expressions) > 0
	is_object(labels)
	object.subset(labels, match_labels)
	every expr in match_expressions {
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

# The Services among `candidates` whose selector picks pods labelled `labels`, sorted by name.
# Callers pass selector_candidates(namespace, "Service", obj_pod_labels), so the kind they read
# from the inventory stays visible in their own source.
pod_services(candidates, labels) := [by_name[n] | some n in sort(object.keys(by_name))] if {
	by_name := {n: svc |
		some svc in candidates
		n := svc.metadata.name
		is_string(n)
		map_selector_matches(svc.spec.selector, labels)
	}
}

# The Services of its namespace that select the pods of the object under review (pod_services).
obj_services := pod_services(selector_candidates(namespace, "Service", obj_pod_labels), obj_pod_labels)

# The serving containers of the object under review (serving_container). The quick test comes
# first, so that a workload whose containers declare ports needs no look-up of its Services.
obj_serving_containers := [c | some c in obj_containers; obj_serving(c)]

obj_serving(c) := true if {
	kind != "Pod"
	declares_ports(c)
} else := true if {
	serving_container(c, kind, obj_containers, obj_services)
}

# Whether container `c` says it listens. Kubernetes treats the ports list as information (a
# container may listen without one), but a container that declares a port means to serve on it.
declares_ports(c) if {
	ports := c.ports
	is_array(ports)
	ports != []
}

# Whether Service `svc` sends traffic to container `c` of a pod whose containers are
# `containers`: one of its ports targets (targetPort, else port) a port name or number `c`
# declares, or a number no container of the pod declares while `c` declares none (such
# containers are the only candidates for the undeclared listener). A Service without ports
# (headless, DNS only) hands out the pod's address, so any container may be the one answering.
service_routes_to(svc, _, _) if not has_service_ports(svc)

service_routes_to(svc, c, containers) if {
	some p in svc.spec.ports
	targets_container(service_target(p), c, containers)
}

has_service_ports(svc) if {
	is_array(svc.spec.ports)
	count(svc.spec.ports) > 0
}

service_target(p) := p.targetPort if {
	p.targetPort != null
} else := p.port

targets_container(target, c, _) if {
	is_string(target)
	some p in container_ports(c)
	p.name == target
}

targets_container(target, c, _) if {
	is_number(target)
	some p in container_ports(c)
	p.containerPort == target
}

targets_container(target, c, containers) if {
	is_number(target)
	not declared_by_any(target, containers)
	not declares_ports(c)
}

declared_by_any(number, containers) if {
	some c in containers
	some p in container_ports(c)
	p.containerPort == number
}

# The port declarations of container `c`; a malformed list gives none.
container_ports(c) := [p | some p in c.ports; is_object(p)] if {
	is_array(c.ports)
} else := []

# Whether container `c` serves traffic, in a pod of a `pod_kind` object whose containers are
# `containers` and which the Services `services` (pod_services) select: a Service routes to it,
# or it declares a port in a workload that is rolled or scaled (rollouts and availability count
# on its readiness). A bare Pod serves only through a Service: nothing else waits for it to be
# ready. Pure in its arguments, so one evaluation over many documents cannot mix them up.
serving_container(c, pod_kind, _, _) if {
	pod_kind != "Pod"
	declares_ports(c)
}

serving_container(c, _, containers, services) if {
	some svc in services
	service_routes_to(svc, c, containers)
}
