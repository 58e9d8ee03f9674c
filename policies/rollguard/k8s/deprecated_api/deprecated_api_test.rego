package rollguard.k8s.deprecated_api_test

import data.rollguard.k8s.deprecated_api
import data.rollguard.lib.testing

# An object of `kind` written with `api_version`.
manifest(api_version, kind) := {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "shop"}}

parameters := {"kubernetes_version": "1.32"}

judge(api_version, kind) := v if {
	v := deprecated_api.violation with input as testing.review(manifest(api_version, kind), parameters)
}

judge_for(version, api_version, kind) := v if {
	inp := object.union(testing.review(manifest(api_version, kind), parameters), {"parameters": {"kubernetes_version": version}})
	v := deprecated_api.violation with input as inp
}

test_extensions_deployment_is_reported if {
	judge("extensions/v1beta1", "Deployment") == {{
		"msg": "extensions/v1beta1 Deployment was removed in Kubernetes 1.16; use apps/v1",
		"details": {
			"apiVersion": "extensions/v1beta1", "kind": "Deployment", "replacement": "apps/v1", "replacement_since": "1.9",
			"removed_in": "1.16", "kubernetes_version": "1.32", "case": "removed", "path": "apiVersion",
		},
	}}
}

test_ingress_betas_removed_in_1_22 if {
	every api in ["extensions/v1beta1", "networking.k8s.io/v1beta1"] {
		judge(api, "Ingress") == {{
			"msg": sprintf("%s Ingress was removed in Kubernetes 1.22; use networking.k8s.io/v1", [api]),
			"details": {
				"apiVersion": api, "kind": "Ingress", "replacement": "networking.k8s.io/v1", "replacement_since": "1.19",
				"removed_in": "1.22", "kubernetes_version": "1.32", "case": "removed", "path": "apiVersion",
			},
		}}
	}
	{x.msg | some x in judge("networking.k8s.io/v1beta1", "IngressClass")} == {"networking.k8s.io/v1beta1 IngressClass was removed in Kubernetes 1.22; use networking.k8s.io/v1"}
}

test_pod_security_policy_has_no_replacement if {
	judge("policy/v1beta1", "PodSecurityPolicy") == {{
		"msg": "policy/v1beta1 PodSecurityPolicy was removed in Kubernetes 1.25; PodSecurityPolicy has no replacement API: use Pod Security Admission",
		"details": {
			"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "replacement": null, "replacement_since": null,
			"removed_in": "1.25", "kubernetes_version": "1.32", "case": "removed", "path": "apiVersion",
		},
	}}

	# extensions/v1beta1 PodSecurityPolicy moved to policy/v1beta1, which 1.25 removed too.
	{x.msg | some x in judge("extensions/v1beta1", "PodSecurityPolicy")} == {"extensions/v1beta1 PodSecurityPolicy was removed in Kubernetes 1.16; PodSecurityPolicy has no replacement API: use Pod Security Admission"}
	v := judge_for("1.20", "extensions/v1beta1", "PodSecurityPolicy")
	{x.msg | some x in v} == {"extensions/v1beta1 PodSecurityPolicy was removed in Kubernetes 1.16; use policy/v1beta1"}
}

test_hpa_betas if {
	{x.details.removed_in | some x in judge("autoscaling/v2beta1", "HorizontalPodAutoscaler")} == {"1.25"}
	judge("autoscaling/v2beta2", "HorizontalPodAutoscaler") == {{
		"msg": "autoscaling/v2beta2 HorizontalPodAutoscaler was removed in Kubernetes 1.26; use autoscaling/v2",
		"details": {
			"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "replacement": "autoscaling/v2", "replacement_since": "1.23",
			"removed_in": "1.26", "kubernetes_version": "1.32", "case": "removed", "path": "apiVersion",
		},
	}}
}

# One row of each removal release of the migration guide, and the kinds sharing a row.
test_table_rows if {
	cases := [
		["flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.32", "flowcontrol.apiserver.k8s.io/v1"],
		["flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration", "1.32", "flowcontrol.apiserver.k8s.io/v1"],
		["flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", "1.29", "flowcontrol.apiserver.k8s.io/v1"],
		["storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.27", "storage.k8s.io/v1"],
		["flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration", "1.26", "flowcontrol.apiserver.k8s.io/v1"],
		["batch/v1beta1", "CronJob", "1.25", "batch/v1"],
		["discovery.k8s.io/v1beta1", "EndpointSlice", "1.25", "discovery.k8s.io/v1"],
		["events.k8s.io/v1beta1", "Event", "1.25", "events.k8s.io/v1"],
		["policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1"],
		["node.k8s.io/v1beta1", "RuntimeClass", "1.25", "node.k8s.io/v1"],
		["admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration", "1.22", "admissionregistration.k8s.io/v1"],
		["admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration", "1.22", "admissionregistration.k8s.io/v1"],
		["apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.22", "apiextensions.k8s.io/v1"],
		["apiregistration.k8s.io/v1beta1", "APIService", "1.22", "apiregistration.k8s.io/v1"],
		["authentication.k8s.io/v1beta1", "TokenReview", "1.22", "authentication.k8s.io/v1"],
		["authorization.k8s.io/v1beta1", "SelfSubjectAccessReview", "1.22", "authorization.k8s.io/v1"],
		["certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.22", "certificates.k8s.io/v1"],
		["coordination.k8s.io/v1beta1", "Lease", "1.22", "coordination.k8s.io/v1"],
		["rbac.authorization.k8s.io/v1beta1", "ClusterRole", "1.22", "rbac.authorization.k8s.io/v1"],
		["rbac.authorization.k8s.io/v1beta1", "RoleBinding", "1.22", "rbac.authorization.k8s.io/v1"],
		["scheduling.k8s.io/v1beta1", "PriorityClass", "1.22", "scheduling.k8s.io/v1"],
		["storage.k8s.io/v1beta1", "StorageClass", "1.22", "storage.k8s.io/v1"],
		["storage.k8s.io/v1beta1", "CSIDriver", "1.22", "storage.k8s.io/v1"],
		["storage.k8s.io/v1beta1", "CSINode", "1.22", "storage.k8s.io/v1"],
		["storage.k8s.io/v1beta1", "VolumeAttachment", "1.22", "storage.k8s.io/v1"],
		["extensions/v1beta1", "DaemonSet", "1.16", "apps/v1"],
		["extensions/v1beta1", "ReplicaSet", "1.16", "apps/v1"],
		["extensions/v1beta1", "NetworkPolicy", "1.16", "networking.k8s.io/v1"],
		["apps/v1beta1", "Deployment", "1.16", "apps/v1"],
		["apps/v1beta1", "StatefulSet", "1.16", "apps/v1"],
		["apps/v1beta1", "ReplicaSet", "1.16", "apps/v1"],
		["apps/v1beta2", "Deployment", "1.16", "apps/v1"],
		["apps/v1beta2", "StatefulSet", "1.16", "apps/v1"],
		["apps/v1beta2", "DaemonSet", "1.16", "apps/v1"],
		["apps/v1beta2", "ReplicaSet", "1.16", "apps/v1"],
	]
	every c in cases {
		judge(c[0], c[1]) == {{
			"msg": sprintf("%s %s was removed in Kubernetes %s; use %s", c),
			"details": {
				"apiVersion": c[0], "kind": c[1], "replacement": c[3], "replacement_since": replacement_since(c[1], c[3]),
				"removed_in": c[2], "kubernetes_version": "1.32", "case": "removed", "path": "apiVersion",
			},
		}}
	}
}

# The release that first served each replacement, as the guide gives it.
replacement_since(kind, api) := {
	"flowcontrol.apiserver.k8s.io/v1": "1.29", "batch/v1": "1.21", "discovery.k8s.io/v1": "1.21",
	"events.k8s.io/v1": "1.19", "policy/v1": "1.21", "node.k8s.io/v1": "1.20",
	"admissionregistration.k8s.io/v1": "1.16", "apiextensions.k8s.io/v1": "1.16", "apiregistration.k8s.io/v1": "1.10",
	"authentication.k8s.io/v1": "1.6", "authorization.k8s.io/v1": "1.6", "certificates.k8s.io/v1": "1.19",
	"coordination.k8s.io/v1": "1.14", "rbac.authorization.k8s.io/v1": "1.8", "scheduling.k8s.io/v1": "1.14",
	"apps/v1": "1.9", "networking.k8s.io/v1": "1.8",
}[api] if {
	not startswith(api, "storage.k8s.io/")
} else := {"CSIStorageCapacity": "1.24", "StorageClass": "1.6", "CSIDriver": "1.19", "CSINode": "1.17", "VolumeAttachment": "1.13"}[kind]

test_removal_after_the_target_version_is_reported_with_its_release if {
	v := judge_for("1.29", "flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema")
	v == {{
		"msg": "flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema will be removed in Kubernetes 1.32 (kubernetes_version is 1.29); use flowcontrol.apiserver.k8s.io/v1",
		"details": {
			"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "FlowSchema", "replacement": "flowcontrol.apiserver.k8s.io/v1",
			"replacement_since": "1.29", "removed_in": "1.32", "kubernetes_version": "1.29", "case": "removal_scheduled", "path": "apiVersion",
		},
	}}

	# Removed in the target release itself counts as removed.
	{x.details.case | some x in judge_for("1.26", "autoscaling/v2beta2", "HorizontalPodAutoscaler")} == {"removed"}
	{x.details.case | some x in judge_for("1.25", "autoscaling/v2beta2", "HorizontalPodAutoscaler")} == {"removal_scheduled"}
}

test_replacement_not_yet_served_by_the_target_names_its_first_release if {
	v := judge_for("1.21", "autoscaling/v2beta2", "HorizontalPodAutoscaler")
	{x.msg | some x in v} == {"autoscaling/v2beta2 HorizontalPodAutoscaler will be removed in Kubernetes 1.26 (kubernetes_version is 1.21); use autoscaling/v2, served from Kubernetes 1.23"}
}

test_replacement_is_the_one_the_target_serves if {
	# 1.26 to 1.28 serve flowcontrol v1beta3 but not yet v1; 1.29 on serve v1.
	{x.msg | some x in judge_for("1.27", "flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema")} == {"flowcontrol.apiserver.k8s.io/v1beta1 FlowSchema was removed in Kubernetes 1.26; use flowcontrol.apiserver.k8s.io/v1beta3"}
	{x.details.replacement | some x in judge_for("1.29", "flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema")} == {"flowcontrol.apiserver.k8s.io/v1"}

	# Before 1.26 neither replacement is served: the preferred one is named with its release.
	{x.msg | some x in judge_for("1.24", "flowcontrol.apiserver.k8s.io/v1beta2", "PriorityLevelConfiguration")} == {"flowcontrol.apiserver.k8s.io/v1beta2 PriorityLevelConfiguration will be removed in Kubernetes 1.29 (kubernetes_version is 1.24); use flowcontrol.apiserver.k8s.io/v1, served from Kubernetes 1.29"}
}

test_versions_compare_as_numbers if {
	# As strings "1.9" > "1.25" and "1.100" < "1.25"; as releases both are the other way round.
	{x.details.case | some x in judge_for("1.9", "batch/v1beta1", "CronJob")} == {"removal_scheduled"}
	{x.details.case | some x in judge_for("1.100", "batch/v1beta1", "CronJob")} == {"removed"}
	{x.details.case | some x in judge_for("1.15", "apps/v1beta2", "Deployment")} == {"removal_scheduled"}
	{x.details.case | some x in judge_for("1.16", "apps/v1beta2", "Deployment")} == {"removed"}
}

test_default_and_malformed_target_version if {
	inp := object.union(testing.review(manifest("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema"), parameters), {"parameters": {}})
	{x.details.kubernetes_version | some x in deprecated_api.violation with input as inp} == {"1.32"}
	every bad in ["1.x", "v1.29", "1", 1.29, null] {
		{x.details.case | some x in judge_for(bad, "flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema")} == {"removed"}
	}
}

test_current_versions_pass if {
	every c in [
		["apps/v1", "Deployment"], ["networking.k8s.io/v1", "Ingress"], ["policy/v1", "PodDisruptionBudget"],
		["autoscaling/v2", "HorizontalPodAutoscaler"], ["autoscaling/v1", "HorizontalPodAutoscaler"], ["batch/v1", "CronJob"],
		["flowcontrol.apiserver.k8s.io/v1", "FlowSchema"], ["rbac.authorization.k8s.io/v1", "Role"],
		["apiextensions.k8s.io/v1", "CustomResourceDefinition"], ["storage.k8s.io/v1", "CSIStorageCapacity"],
	] {
		count(judge(c[0], c[1])) == 0
	}
}

test_unlisted_kind_in_removed_version_passes if {
	count(judge("apps/v1beta1", "DaemonSet")) == 0
	count(judge("extensions/v1beta1", "CronJob")) == 0
	count(judge("storage.k8s.io/v1beta1", "Widget")) == 0
}

test_admission_group_version_is_used_when_manifest_has_none if {
	inp := {"review": {"object": {"kind": "CronJob"}, "kind": {"group": "batch", "version": "v1beta1", "kind": "CronJob"}}, "parameters": {}}
	{x.details.apiVersion | some x in deprecated_api.violation with input as inp} == {"batch/v1beta1"}
}

test_malformed_api_version_does_not_error if {
	count(judge(42, "Deployment")) == 0
	inp := {"review": {"object": {"kind": "Deployment"}, "kind": {"kind": "Deployment"}}, "parameters": {}}
	count(deprecated_api.violation) == 0 with input as inp
}

test_the_lookup_set_is_the_table if {
	deprecated_api.removed_api_versions == {e.apiVersion | some e in deprecated_api.removals}
}
