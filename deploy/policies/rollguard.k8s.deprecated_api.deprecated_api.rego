# METADATA
# title: Manifests use API versions current Kubernetes still serves
# description: >-
#   A manifest written against a removed apiVersion cannot be applied to a
#   current cluster: the rollout fails at the apply step, typically in the middle
#   of a release that already updated other objects, and a rollback to such a
#   manifest fails too. Reports the removed versions of the objects a rolling
#   deployment ships: extensions/v1beta1 Deployment, DaemonSet, ReplicaSet,
#   NetworkPolicy, PodSecurityPolicy (1.16) and Ingress (1.22); apps/v1beta1
#   Deployment and StatefulSet and apps/v1beta2 Deployment, StatefulSet,
#   DaemonSet and ReplicaSet (1.16); policy/v1beta1 PodDisruptionBudget and
#   PodSecurityPolicy, autoscaling/v2beta1 HorizontalPodAutoscaler and
#   batch/v1beta1 CronJob (1.25); autoscaling/v2beta2 HorizontalPodAutoscaler
#   (1.26). The details name the replacement apiVersion and the release that
#   removed the old one.
# scope: package
# custom:
#   id: k8s.deprecated_api
#   severity: high
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3", "NIST-800-53:SA-22", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Change apiVersion to the replacement named in the finding (apps/v1,
#     networking.k8s.io/v1, policy/v1, autoscaling/v2, batch/v1) and adapt the
#     fields that changed with it (e.g. apps/v1 requires spec.selector; Ingress
#     v1 uses pathType and service.name/port); `kubectl convert` helps.
#     PodSecurityPolicy has no replacement API: use Pod Security Admission
#     namespace labels instead.
#   applies_to: [Deployment, DaemonSet, ReplicaSet, StatefulSet, Ingress, NetworkPolicy, PodSecurityPolicy, PodDisruptionBudget, HorizontalPodAutoscaler, CronJob]
#   parameters:
#     type: object
#     properties: {}
#   example_allowed: |
#     apiVersion: apps/v1
#     kind: Deployment
#   example_disallowed: |
#     apiVersion: extensions/v1beta1
#     kind: Deployment
package rollguard.k8s.deprecated_api

import data.rollguard.lib.k8s

# apiVersion → kind → replacement apiVersion (null: none) and the release that removed it.
removed := {
	"extensions/v1beta1": {
		"Deployment": {"replacement": "apps/v1", "removed_in": "1.16"},
		"DaemonSet": {"replacement": "apps/v1", "removed_in": "1.16"},
		"ReplicaSet": {"replacement": "apps/v1", "removed_in": "1.16"},
		"NetworkPolicy": {"replacement": "networking.k8s.io/v1", "removed_in": "1.16"},
		"PodSecurityPolicy": {"replacement": null, "removed_in": "1.16"},
		"Ingress": {"replacement": "networking.k8s.io/v1", "removed_in": "1.22"},
	},
	"apps/v1beta1": {
		"Deployment": {"replacement": "apps/v1", "removed_in": "1.16"},
		"StatefulSet": {"replacement": "apps/v1", "removed_in": "1.16"},
	},
	"apps/v1beta2": {
		"Deployment": {"replacement": "apps/v1", "removed_in": "1.16"},
		"StatefulSet": {"replacement": "apps/v1", "removed_in": "1.16"},
		"DaemonSet": {"replacement": "apps/v1", "removed_in": "1.16"},
		"ReplicaSet": {"replacement": "apps/v1", "removed_in": "1.16"},
	},
	"policy/v1beta1": {
		"PodDisruptionBudget": {"replacement": "policy/v1", "removed_in": "1.25"},
		"PodSecurityPolicy": {"replacement": null, "removed_in": "1.25"},
	},
	"autoscaling/v2beta1": {"HorizontalPodAutoscaler": {"replacement": "autoscaling/v2", "removed_in": "1.25"}},
	"autoscaling/v2beta2": {"HorizontalPodAutoscaler": {"replacement": "autoscaling/v2", "removed_in": "1.26"}},
	"batch/v1beta1": {"CronJob": {"replacement": "batch/v1", "removed_in": "1.25"}},
}

violation contains {"msg": msg, "details": d} if {
	entry := removed[api_version][k8s.kind]
	d := {"apiVersion": api_version, "kind": k8s.kind, "replacement": entry.replacement, "removed_in": entry.removed_in}
	msg := sprintf("%s %s was removed in Kubernetes %s; %s", [api_version, k8s.kind, entry.removed_in, advice(entry.replacement)])
}

advice(replacement) := sprintf("use %s", [replacement]) if is_string(replacement)

advice(null) := "PodSecurityPolicy has no replacement API: use Pod Security Admission"

# The manifest's apiVersion, else the group/version of the admission request.
api_version := k8s.obj.apiVersion if {
	is_string(k8s.obj.apiVersion)
} else := concat("/", [input.review.kind.group, input.review.kind.version]) if {
	is_string(input.review.kind.group)
	input.review.kind.group != ""
	is_string(input.review.kind.version)
}
