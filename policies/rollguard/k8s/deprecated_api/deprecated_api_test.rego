package rollguard.k8s.deprecated_api_test

import data.rollguard.k8s.deprecated_api

review(api_version, kind) := {
	"review": {
		"object": {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "shop"}},
		"kind": {"kind": kind},
	},
	"parameters": {},
}

judge(api_version, kind) := v if {
	v := deprecated_api.violation with input as review(api_version, kind)
}

test_extensions_deployment_is_reported if {
	judge("extensions/v1beta1", "Deployment") == {{
		"msg": "extensions/v1beta1 Deployment was removed in Kubernetes 1.16; use apps/v1",
		"details": {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "replacement": "apps/v1", "removed_in": "1.16"},
	}}
}

test_extensions_ingress_removed_in_1_22 if {
	judge("extensions/v1beta1", "Ingress") == {{
		"msg": "extensions/v1beta1 Ingress was removed in Kubernetes 1.22; use networking.k8s.io/v1",
		"details": {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "replacement": "networking.k8s.io/v1", "removed_in": "1.22"},
	}}
}

test_pod_security_policy_has_no_replacement if {
	judge("policy/v1beta1", "PodSecurityPolicy") == {{
		"msg": "policy/v1beta1 PodSecurityPolicy was removed in Kubernetes 1.25; PodSecurityPolicy has no replacement API: use Pod Security Admission",
		"details": {"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "replacement": null, "removed_in": "1.25"},
	}}
}

test_hpa_betas if {
	{x.details.removed_in | some x in judge("autoscaling/v2beta1", "HorizontalPodAutoscaler")} == {"1.25"}
	judge("autoscaling/v2beta2", "HorizontalPodAutoscaler") == {{
		"msg": "autoscaling/v2beta2 HorizontalPodAutoscaler was removed in Kubernetes 1.26; use autoscaling/v2",
		"details": {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler", "replacement": "autoscaling/v2", "removed_in": "1.26"},
	}}
}

test_every_listed_version_is_reported if {
	cases := [
		["extensions/v1beta1", "DaemonSet", "apps/v1"],
		["extensions/v1beta1", "ReplicaSet", "apps/v1"],
		["extensions/v1beta1", "NetworkPolicy", "networking.k8s.io/v1"],
		["apps/v1beta1", "Deployment", "apps/v1"],
		["apps/v1beta1", "StatefulSet", "apps/v1"],
		["apps/v1beta2", "Deployment", "apps/v1"],
		["apps/v1beta2", "StatefulSet", "apps/v1"],
		["apps/v1beta2", "DaemonSet", "apps/v1"],
		["apps/v1beta2", "ReplicaSet", "apps/v1"],
		["policy/v1beta1", "PodDisruptionBudget", "policy/v1"],
		["batch/v1beta1", "CronJob", "batch/v1"],
	]
	every c in cases {
		{x.details.replacement | some x in judge(c[0], c[1])} == {c[2]}
	}
	{x.details.replacement | some x in judge("extensions/v1beta1", "PodSecurityPolicy")} == {null}
}

test_current_versions_pass if {
	count(judge("apps/v1", "Deployment")) == 0
	count(judge("networking.k8s.io/v1", "Ingress")) == 0
	count(judge("policy/v1", "PodDisruptionBudget")) == 0
	count(judge("autoscaling/v2", "HorizontalPodAutoscaler")) == 0
	count(judge("autoscaling/v1", "HorizontalPodAutoscaler")) == 0
	count(judge("batch/v1", "CronJob")) == 0
}

test_unlisted_kind_in_removed_version_passes if {
	count(judge("apps/v1beta1", "DaemonSet")) == 0
	count(judge("extensions/v1beta1", "CronJob")) == 0
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
