# METADATA
# title: Manifests use API versions the target Kubernetes release still serves
# description: >-
#   A manifest written against a removed apiVersion cannot be applied: the
#   rollout fails at the apply step, typically in the middle of a release that
#   already updated other objects, and a rollback to such a manifest fails too.
#   Judges every apiVersion in the "Removed APIs by release" table of the
#   Kubernetes deprecated API migration guide, from the 1.16 removals
#   (extensions/v1beta1, apps/v1beta1 and apps/v1beta2 workloads) through 1.22
#   (Ingress, IngressClass, CRDs, admission webhooks, RBAC, APIService,
#   PriorityClass, storage and more), 1.25 (CronJob, PodDisruptionBudget,
#   PodSecurityPolicy, HPA v2beta1, RuntimeClass, EndpointSlice, Event), 1.26
#   (HPA v2beta2, flowcontrol v1beta1), 1.27 (CSIStorageCapacity) and 1.29 and
#   1.32 (flowcontrol v1beta2 and v1beta3), against kubernetes_version: an
#   apiVersion removed in or before that release is reported as removed, and
#   one whose removal is announced for a later release is reported at low
#   severity (a warning at the default fail_on) with the release that will
#   remove it, so the migration happens before the upgrade.
#   The details name the replacement apiVersion (the newest one the target
#   release serves), the release that serves it, and the removal release.
#   Objects that controllers, the API server and clients write rather than
#   manifests (APIService, Event, Lease, EndpointSlice, CSINode,
#   VolumeAttachment, CSIStorageCapacity, CertificateSigningRequest,
#   TokenReview and the SubjectAccessReviews) are in the table but not judged:
#   routing them through the admission webhook would put API server start-up,
#   node heartbeats, endpoints and authentication on its failure path. High: the
#   API server refuses the manifest, so the release fails part-way at the apply
#   step; a removal announced for a later release is low, a warning to migrate
#   before the upgrade.
# scope: package
# custom:
#   id: k8s.deprecated_api
#   severity: high
#   case_severity: {removal_scheduled: low}
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3", "NIST-800-53:SA-22", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Change the apiVersion of the {{ kind }} from {{ apiVersion }} to the
#     replacement named in the finding (for example apps/v1,
#     networking.k8s.io/v1, policy/v1, autoscaling/v2, batch/v1,
#     rbac.authorization.k8s.io/v1, apiextensions.k8s.io/v1 or
#     flowcontrol.apiserver.k8s.io/v1) and adapt the fields that changed with
#     it (apps/v1 requires spec.selector; Ingress v1 uses pathType and
#     service.name/port; CRD v1 needs a structural schema per version);
#     `kubectl convert` helps. PodSecurityPolicy has no replacement API: use
#     Pod Security Admission namespace labels instead. Set kubernetes_version
#     to the release the cluster runs or is about to be upgraded to.
#   case_remediation:
#     removal_scheduled: >-
#       Before the cluster is upgraded to Kubernetes {{ removed_in }}, change the
#       apiVersion of the {{ kind }} from {{ apiVersion }} to the replacement
#       named in the finding and adapt the fields that changed with it
#       (`kubectl convert` helps); PodSecurityPolicy has no replacement API, so
#       move to Pod Security Admission namespace labels instead.
#   applies_to: [Deployment, DaemonSet, ReplicaSet, StatefulSet, CronJob, Ingress, IngressClass, NetworkPolicy, PodSecurityPolicy, PodDisruptionBudget, HorizontalPodAutoscaler, RuntimeClass, FlowSchema, PriorityLevelConfiguration, MutatingWebhookConfiguration, ValidatingWebhookConfiguration, CustomResourceDefinition, ClusterRole, ClusterRoleBinding, Role, RoleBinding, PriorityClass, StorageClass, CSIDriver]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       kubernetes_version:
#         type: string
#         pattern: '^1\.[0-9]+$'
#         default: "1.32"
#         description: >-
#           The Kubernetes release (major.minor, e.g. "1.29") the manifests must
#           apply to: APIs it no longer serves are reported as removed, APIs removed
#           by a later release as due for removal.
#   example_allowed: |
#     apiVersion: apps/v1
#     kind: Deployment
#   example_disallowed: |
#     apiVersion: extensions/v1beta1
#     kind: Deployment
package rollguard.k8s.deprecated_api

import data.rollguard.lib.k8s

# The "Removed APIs by release" table of https://kubernetes.io/docs/reference/using-api/deprecation-guide/:
# an apiVersion, the kinds it served, the release that stopped serving them, and the
# replacements in order of preference with the release that first served each.
removals := [
	# 1.32
	row("flowcontrol.apiserver.k8s.io/v1beta3", ["FlowSchema", "PriorityLevelConfiguration"], "1.32", [["flowcontrol.apiserver.k8s.io/v1", "1.29"]]),
	# 1.29: v1beta3 serves the objects on releases before 1.29 (and is itself removed in 1.32).
	row("flowcontrol.apiserver.k8s.io/v1beta2", ["FlowSchema", "PriorityLevelConfiguration"], "1.29", [["flowcontrol.apiserver.k8s.io/v1", "1.29"], ["flowcontrol.apiserver.k8s.io/v1beta3", "1.26"]]),
	# 1.27
	row("storage.k8s.io/v1beta1", ["CSIStorageCapacity"], "1.27", [["storage.k8s.io/v1", "1.24"]]),
	# 1.26
	row("flowcontrol.apiserver.k8s.io/v1beta1", ["FlowSchema", "PriorityLevelConfiguration"], "1.26", [["flowcontrol.apiserver.k8s.io/v1", "1.29"], ["flowcontrol.apiserver.k8s.io/v1beta3", "1.26"]]),
	row("autoscaling/v2beta2", ["HorizontalPodAutoscaler"], "1.26", [["autoscaling/v2", "1.23"]]),
	# 1.25
	row("batch/v1beta1", ["CronJob"], "1.25", [["batch/v1", "1.21"]]),
	row("discovery.k8s.io/v1beta1", ["EndpointSlice"], "1.25", [["discovery.k8s.io/v1", "1.21"]]),
	row("events.k8s.io/v1beta1", ["Event"], "1.25", [["events.k8s.io/v1", "1.19"]]),
	row("autoscaling/v2beta1", ["HorizontalPodAutoscaler"], "1.25", [["autoscaling/v2", "1.23"]]),
	row("policy/v1beta1", ["PodDisruptionBudget"], "1.25", [["policy/v1", "1.21"]]),
	row("policy/v1beta1", ["PodSecurityPolicy"], "1.25", []),
	row("node.k8s.io/v1beta1", ["RuntimeClass"], "1.25", [["node.k8s.io/v1", "1.20"]]),
	# 1.22
	row("admissionregistration.k8s.io/v1beta1", ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"], "1.22", [["admissionregistration.k8s.io/v1", "1.16"]]),
	row("apiextensions.k8s.io/v1beta1", ["CustomResourceDefinition"], "1.22", [["apiextensions.k8s.io/v1", "1.16"]]),
	row("apiregistration.k8s.io/v1beta1", ["APIService"], "1.22", [["apiregistration.k8s.io/v1", "1.10"]]),
	row("authentication.k8s.io/v1beta1", ["TokenReview"], "1.22", [["authentication.k8s.io/v1", "1.6"]]),
	row("authorization.k8s.io/v1beta1", ["LocalSubjectAccessReview", "SelfSubjectAccessReview", "SubjectAccessReview"], "1.22", [["authorization.k8s.io/v1", "1.6"]]),
	row("certificates.k8s.io/v1beta1", ["CertificateSigningRequest"], "1.22", [["certificates.k8s.io/v1", "1.19"]]),
	row("coordination.k8s.io/v1beta1", ["Lease"], "1.22", [["coordination.k8s.io/v1", "1.14"]]),
	row("extensions/v1beta1", ["Ingress"], "1.22", [["networking.k8s.io/v1", "1.19"]]),
	row("networking.k8s.io/v1beta1", ["Ingress", "IngressClass"], "1.22", [["networking.k8s.io/v1", "1.19"]]),
	row("rbac.authorization.k8s.io/v1beta1", ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"], "1.22", [["rbac.authorization.k8s.io/v1", "1.8"]]),
	row("scheduling.k8s.io/v1beta1", ["PriorityClass"], "1.22", [["scheduling.k8s.io/v1", "1.14"]]),
	row("storage.k8s.io/v1beta1", ["CSIDriver"], "1.22", [["storage.k8s.io/v1", "1.19"]]),
	row("storage.k8s.io/v1beta1", ["CSINode"], "1.22", [["storage.k8s.io/v1", "1.17"]]),
	row("storage.k8s.io/v1beta1", ["StorageClass"], "1.22", [["storage.k8s.io/v1", "1.6"]]),
	row("storage.k8s.io/v1beta1", ["VolumeAttachment"], "1.22", [["storage.k8s.io/v1", "1.13"]]),
	# 1.16: policy/v1beta1 served PodSecurityPolicy until 1.25.
	row("extensions/v1beta1", ["NetworkPolicy"], "1.16", [["networking.k8s.io/v1", "1.8"]]),
	row("extensions/v1beta1", ["PodSecurityPolicy"], "1.16", [["policy/v1beta1", "1.10"]]),
	row("extensions/v1beta1", ["DaemonSet", "Deployment", "ReplicaSet"], "1.16", [["apps/v1", "1.9"]]),
	row("apps/v1beta1", ["Deployment", "StatefulSet", "ReplicaSet"], "1.16", [["apps/v1", "1.9"]]),
	row("apps/v1beta2", ["DaemonSet", "Deployment", "StatefulSet", "ReplicaSet"], "1.16", [["apps/v1", "1.9"]]),
]

row(api_version, kinds, removed_in, replacements) := {
	"apiVersion": api_version,
	"kinds": kinds,
	"removed_in": removed_in,
	"replacements": [{"apiVersion": r[0], "since": r[1]} | some r in replacements],
}

# Every apiVersion of the table, written out: a current apiVersion (nearly every object) is
# ruled out by one lookup instead of a walk over the table. A test keeps it equal to the table.
removed_api_versions := {
	"admissionregistration.k8s.io/v1beta1",
	"apiextensions.k8s.io/v1beta1",
	"apiregistration.k8s.io/v1beta1",
	"apps/v1beta1",
	"apps/v1beta2",
	"authentication.k8s.io/v1beta1",
	"authorization.k8s.io/v1beta1",
	"autoscaling/v2beta1",
	"autoscaling/v2beta2",
	"batch/v1beta1",
	"certificates.k8s.io/v1beta1",
	"coordination.k8s.io/v1beta1",
	"discovery.k8s.io/v1beta1",
	"events.k8s.io/v1beta1",
	"extensions/v1beta1",
	"flowcontrol.apiserver.k8s.io/v1beta1",
	"flowcontrol.apiserver.k8s.io/v1beta2",
	"flowcontrol.apiserver.k8s.io/v1beta3",
	"networking.k8s.io/v1beta1",
	"node.k8s.io/v1beta1",
	"policy/v1beta1",
	"rbac.authorization.k8s.io/v1beta1",
	"scheduling.k8s.io/v1beta1",
	"storage.k8s.io/v1beta1",
}

violation contains {"msg": msg, "details": d} if {
	api_version in removed_api_versions
	some entry in removals
	entry.apiVersion == api_version
	k8s.kind in entry.kinds
	replacement := chosen_replacement(entry)
	d := {
		"apiVersion": api_version,
		"kind": k8s.kind,
		"replacement": object.get(replacement, "apiVersion", null),
		"replacement_since": object.get(replacement, "since", null),
		"removed_in": entry.removed_in,
		"kubernetes_version": target_version,
		"case": status(entry),
		"path": "apiVersion",
	}
	msg := sprintf("%s %s %s; %s", [api_version, k8s.kind, removal_text(entry), advice(replacement)])
}

status(entry) := "removed" if removed_by_target(entry) else := "removal_scheduled"

removal_text(entry) := sprintf("was removed in Kubernetes %s", [entry.removed_in]) if {
	removed_by_target(entry)
} else := sprintf("will be removed in Kubernetes %s (kubernetes_version is %s)", [entry.removed_in, target_version])

advice(replacement) := sprintf("use %s", [replacement.apiVersion]) if {
	served_by_target(replacement)
} else := sprintf("use %s, served from Kubernetes %s", [replacement.apiVersion, replacement.since]) if {
	replacement != {}
} else := "PodSecurityPolicy has no replacement API: use Pod Security Admission" if {
	k8s.kind == "PodSecurityPolicy"
} else := sprintf("%s has no replacement API", [k8s.kind])

# The first replacement the target release serves, else the first one a later release serves
# (the target predates it), else {}: none, or every one is removed by the target too.
chosen_replacement(entry) := served[0] if {
	served := [r | some r in entry.replacements; served_by_target(r)]
	count(served) > 0
} else := later[0] if {
	later := [r | some r in entry.replacements; not replacement_removed_by_target(r.apiVersion)]
	count(later) > 0
} else := {}

served_by_target(replacement) if {
	version_key(replacement.since) <= target_key
	not replacement_removed_by_target(replacement.apiVersion)
}

# Whether the target release still serves `api` for the kind under review.
replacement_removed_by_target(api) if {
	some entry in removals
	entry.apiVersion == api
	k8s.kind in entry.kinds
	removed_by_target(entry)
}

removed_by_target(entry) if version_key(entry.removed_in) <= target_key

# --- Kubernetes versions, compared as numbers (1.9 < 1.25) ------------------------------------

target_version := v if {
	v := input.parameters.kubernetes_version
	version_key(v)
} else := "1.32"

target_key := version_key(target_version)

# "1.25" as 1025; undefined for anything but major.minor.
version_key(v) := (to_number(parts[0]) * 1000) + to_number(parts[1]) if {
	is_string(v)
	regex.match(`^[0-9]{1,3}\.[0-9]{1,3}$`, v)
	parts := split(v, ".")
}

# The manifest's apiVersion, else the group/version of the admission request.
api_version := k8s.obj.apiVersion if {
	is_string(k8s.obj.apiVersion)
} else := concat("/", [input.review.kind.group, input.review.kind.version]) if {
	is_string(input.review.kind.group)
	input.review.kind.group != ""
	is_string(input.review.kind.version)
}
