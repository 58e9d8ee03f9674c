# METADATA
# title: Change-set helpers
# description: >-
#   Shared helpers for rollguard's cross-artifact policies: the workloads of the
#   change (data.inventory, every namespace), their labels and images, the
#   migration files of the change (data.rollguard.changeset.migration) and
#   semver-ish version labels.
# scope: package
package rollguard.lib.changeset

import data.rollguard.lib.k8s

# Kinds that replace running pods when their template changes: what "a rollout" is.
rollout_kinds := {"Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig"}

# Kinds whose images are compared across the change. Pods and ReplicaSets are left out:
# in a live inventory they belong to an owner (often an old revision of it).
# Written out (rollout_kinds | {"Job", "CronJob"}): a constant is cheaper to evaluate than a union.
image_kinds := {"Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig", "Job", "CronJob"}

# Objects of `kinds` in the inventory, every namespace, with where they are.
workloads(kinds) := [w |
	some kind in kinds
	some ns, api, name
	o := data.inventory.namespace[ns][api][kind][name]
	is_object(o)
	w := {"kind": kind, "namespace": ns, "name": name, "object": o}
]

# Objects of `kinds` that may run image repository `repo` (registry/path): a superset that
# callers still compare exactly. rollguard's gate indexes workloads by the last component of
# their image names (data.inventory.rollguard_workloads); without the index, every workload.
# (object.get, not a lookup: an undefined head makes OPA try the else branch, regorus not.)
image_candidates(kinds, repo) := indexed(kinds, object.get(data.inventory.rollguard_workloads.images, last_segment(repo), [])) if {
	is_object(data.inventory.rollguard_workloads.images)
} else := workloads(kinds)

# Objects of `kinds` that may carry `app.kubernetes.io/name: <service>`, likewise.
service_candidates(kinds, service) := indexed(kinds, object.get(data.inventory.rollguard_workloads.names, service, [])) if {
	is_object(data.inventory.rollguard_workloads.names)
} else := workloads(kinds)

# Whether the change has a workload of `kinds` other than the one under review that the index
# `field` of data.inventory.rollguard_workloads lists under `key` ("images": an image name,
# "names": an app.kubernetes.io/name); without the index, whether it has any other workload.
# A cheap test before image_candidates or service_candidates: most workloads share no image
# and no name with another, and then no candidate list is built.
has_other(field, kinds, key) if {
	some ref in data.inventory.rollguard_workloads[field][key]
	# Unification: regorus rejects `:=` destructuring a variable in a function body.
	[ref_ns, ref_api, ref_kind, ref_name] = ref
	[ref_kind, ref_ns, ref_name] != reviewed
	ref_kind in kinds
	is_object(data.inventory.namespace[ref_ns][ref_api][ref_kind][ref_name])
}

# not indexed_by(field), without the function call. object.get, not a reference: OPA evaluates
# a reference in a `not` before the negation, so a missing index would fail the body.
has_other(field, kinds, _) if {
	not is_object(object.get(data.inventory, ["rollguard_workloads", field], null))
	some w in workloads(kinds)
	identity(w) != reviewed
}

indexed_by(field) if is_object(data.inventory.rollguard_workloads[field])

indexed(kinds, refs) := [w |
	some ref in {r | some r in refs; is_array(r); count(r) == 4}
	ref[2] in kinds
	o := data.inventory.namespace[ref[0]][ref[1]][ref[2]][ref[3]]
	is_object(o)
	w := {"kind": ref[2], "namespace": ref[0], "name": ref[3], "object": o}
]

last_segment(repo) := parts[count(parts) - 1] if {
	parts := split(repo, "/")
}

# `Deployment shop/web`.
display(w) := sprintf("%s %s/%s", [w.kind, w.namespace, w.name])

# Kind, namespace and name of the object under review, and of an inventory entry: the object
# under review is in the inventory too. A rule, not a function of the entry: regorus reused
# such a function's results across the documents of one call (the corpus parity test showed it).
# The first body reads what an admission review always gives (the same values as the library's
# kind, namespace and name rules, which fall back on the object when it does not).
reviewed := [kind, namespace, name] if {
	kind := input.review.kind.kind
	is_string(kind)
	namespace := input.review.namespace
	is_string(namespace)
	namespace != ""
	name := input.review.object.metadata.name
	is_string(name)
} else := [k8s.kind, k8s.namespace, k8s.name]

identity(w) := [w.kind, w.namespace, w.name]

# labels(k8s.obj), from the library's rule for the pod template labels of the object under review.
obj_labels := object.union(k8s.obj_pod_labels, own) if {
	own := k8s.obj.metadata.labels
	is_object(own)
} else := k8s.obj_pod_labels

# Labels of the object and of its pod template; the object's own win.
labels(obj) := object.union(k8s.pod_labels(obj), own) if {
	own := obj.metadata.labels
	is_object(own)
} else := k8s.pod_labels(obj)

# Annotations of the object and of its pod template; the object's own win.
annotations(obj) := object.union(template, own) if {
	template := pod_annotations(obj)
	own := object.get(object.get(obj, "metadata", {}), "annotations", {})
	is_object(own)
} else := pod_annotations(obj)

pod_annotations(obj) := a if {
	a := k8s.pod_metadata(obj).annotations
	is_object(a)
} else := {}

# Workloads in the change that run at least one container image.
rollouts := [w |
	some w in workloads(rollout_kinds)
	runs_image(w.object)
]

runs_image(obj) if {
	some c in k8s.all_containers(obj)
	is_string(c.image)
	c.image != ""
}

# Migration files of the change, in the order the migration tool applies them; files known to
# have run already (pending false) are history, not part of what this change deploys.
migrations := [doc |
	some doc in data.rollguard.changeset.migration
	is_object(doc)
	not doc.pending == false
]

# Where a migration file came from (its file name, else its metadata name).
migration_name(doc) := doc.file if {
	is_string(doc.file)
} else := doc.metadata.name if {
	is_string(doc.metadata.name)
} else := "a migration"

# `v1.2.3`, `1.2`, `1.2.3-rc.1+build` as {"major", "minor"}; undefined for anything else.
semver(text) := {"major": to_number(m[1]), "minor": to_number(m[2])} if {
	is_string(text)
	[m] := regex.find_all_string_submatch_n(`^[vV]?([0-9]+)\.([0-9]+)(?:\.[0-9]+)?(?:[-+][0-9A-Za-z.+-]*)?$`, text, 1)
}
