package rollguard.k8s.hpa_consistency_test

import data.rollguard.k8s.hpa_consistency
import data.rollguard.lib.testing

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": {
		"selector": {"matchLabels": {"app": "checkout"}},
		"template": {"metadata": {"labels": {"app": "checkout"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
	},
}

hpa(spec) := {
	"apiVersion": "autoscaling/v2",
	"kind": "HorizontalPodAutoscaler",
	"metadata": {"name": "checkout-hpa", "namespace": "shop"},
	"spec": object.union({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}}, spec),
}

parameters := {"min_replicas": 2, "max_replicas": null, "min_spread": 0}

# The parameters of gatekeeper-library's K8sHorizontalPodAutoscaler sample.
bounded(o) := object.union(testing.review_in("shop", o, parameters), {"parameters": {"min_replicas": 3, "max_replicas": 6, "min_spread": 1}})

# --- HorizontalPodAutoscaler ---

test_consistent_hpa_passes if {
	count(hpa_consistency.violation) == 0 with input as testing.review_in("shop", hpa({"minReplicas": 3, "maxReplicas": 10}), parameters)
		with data.inventory as testing.inventory([deployment])
}

test_missing_target_is_reported if {
	h := hpa({"minReplicas": 2, "maxReplicas": 5, "scaleTargetRef": {"kind": "Deployment", "name": "cart"}})
	v := hpa_consistency.violation with input as testing.review_in("shop", h, parameters) with data.inventory as testing.inventory([deployment])
	v == {{
		"msg": `scaleTargetRef Deployment cart does not exist in namespace "shop"`,
		"details": {
			"target_kind": "Deployment",
			"target_name": "cart",
			"namespace": "shop",
			"case": "missing_target",
			"path": "spec.scaleTargetRef.name",
		},
	}}
}

test_target_of_other_kind_or_namespace_is_missing if {
	sts := object.union(deployment, {"kind": "StatefulSet"})
	count(hpa_consistency.violation) == 1 with input as testing.review_in("shop", hpa({"minReplicas": 2, "maxReplicas": 5}), parameters) with data.inventory as testing.inventory([sts])
	elsewhere := object.union(deployment, {"metadata": {"namespace": "other"}})
	count(hpa_consistency.violation) == 1 with input as testing.review_in("shop", hpa({"minReplicas": 2, "maxReplicas": 5}), parameters) with data.inventory as testing.inventory([elsewhere])
	count(hpa_consistency.violation) == 1 with input as testing.review_in("shop", hpa({"minReplicas": 2, "maxReplicas": 5}), parameters) with data.inventory as {}
}

test_min_replicas_below_floor_is_reported if {
	v := hpa_consistency.violation with input as testing.review_in("shop", hpa({"minReplicas": 1, "maxReplicas": 5}), parameters) with data.inventory as testing.inventory([deployment])
	v == {{
		"msg": "minReplicas is 1, below the minimum of 2",
		"details": {"minReplicas": 1, "min_replicas": 2, "case": "min_below_floor", "path": "spec.minReplicas"},
	}}
}

test_unset_min_replicas_defaults_to_one if {
	v := hpa_consistency.violation with input as testing.review_in("shop", hpa({"maxReplicas": 5}), parameters) with data.inventory as testing.inventory([deployment])
	v == {{
		"msg": "minReplicas is 1, below the minimum of 2",
		"details": {"minReplicas": 1, "min_replicas": 2, "case": "min_below_floor", "path": "spec.minReplicas"},
	}}
}

test_floor_parameter_is_honoured if {
	inp := object.union(testing.review_in("shop", hpa({"minReplicas": 2, "maxReplicas": 5}), parameters), {"parameters": {"min_replicas": 3}})
	v := hpa_consistency.violation with input as inp with data.inventory as testing.inventory([deployment])
	v == {{
		"msg": "minReplicas is 2, below the minimum of 3",
		"details": {"minReplicas": 2, "min_replicas": 3, "case": "min_below_floor", "path": "spec.minReplicas"},
	}}
	lenient := object.union(testing.review_in("shop", hpa({"maxReplicas": 5}), parameters), {"parameters": {"min_replicas": 1}})
	count(hpa_consistency.violation) == 0 with input as lenient with data.inventory as testing.inventory([deployment])
}

test_max_below_min_is_reported if {
	v := hpa_consistency.violation with input as testing.review_in("shop", hpa({"minReplicas": 4, "maxReplicas": 3}), parameters) with data.inventory as testing.inventory([deployment])
	v == {{
		"msg": "maxReplicas 3 is below minReplicas 4",
		"details": {"minReplicas": 4, "maxReplicas": 3, "case": "max_below_min", "path": "spec.maxReplicas"},
	}}
}

test_max_replicas_above_limit_is_reported if {
	v := hpa_consistency.violation with input as bounded(hpa({"minReplicas": 3, "maxReplicas": 7})) with data.inventory as testing.inventory([deployment])
	v == {{
		"msg": "maxReplicas is 7, above the maximum of 6",
		"details": {"maxReplicas": 7, "max_replicas": 6, "case": "max_above_limit", "path": "spec.maxReplicas"},
	}}
	count(hpa_consistency.violation) == 0 with input as bounded(hpa({"minReplicas": 3, "maxReplicas": 6})) with data.inventory as testing.inventory([deployment])
}

test_no_max_replicas_limit_by_default if {
	count(hpa_consistency.violation) == 0 with input as testing.review_in("shop", hpa({"minReplicas": 2, "maxReplicas": 1000}), parameters) with data.inventory as testing.inventory([deployment])
	malformed := object.union(testing.review_in("shop", hpa({"minReplicas": 2, "maxReplicas": 1000}), parameters), {"parameters": {"max_replicas": "6"}})
	count(hpa_consistency.violation) == 0 with input as malformed with data.inventory as testing.inventory([deployment])
}

test_spread_below_minimum_is_reported if {
	v := hpa_consistency.violation with input as bounded(hpa({"minReplicas": 4, "maxReplicas": 4})) with data.inventory as testing.inventory([deployment])
	v == {{
		"msg": "minReplicas 4 and maxReplicas 4 leave a spread of 0, below the minimum of 1",
		"details": {
			"minReplicas": 4,
			"maxReplicas": 4,
			"spread": 0,
			"min_spread": 1,
			"case": "spread_too_small",
			"path": "spec.maxReplicas",
		},
	}}
	count(hpa_consistency.violation) == 0 with input as bounded(hpa({"minReplicas": 4, "maxReplicas": 5})) with data.inventory as testing.inventory([deployment])
}

test_spread_uses_defaulted_min_replicas if {
	inp := object.union(testing.review_in("shop", hpa({"maxReplicas": 2}), parameters), {"parameters": {"min_replicas": 1, "min_spread": 2}})
	v := hpa_consistency.violation with input as inp with data.inventory as testing.inventory([deployment])
	{x.details | some x in v} == {{
		"minReplicas": 1,
		"maxReplicas": 2,
		"spread": 1,
		"min_spread": 2,
		"case": "spread_too_small",
		"path": "spec.maxReplicas",
	}}
}

test_max_below_min_is_not_also_a_spread_violation if {
	inp := object.union(testing.review_in("shop", hpa({"minReplicas": 4, "maxReplicas": 3}), parameters), {"parameters": {"min_spread": 1}})
	v := hpa_consistency.violation with input as inp with data.inventory as testing.inventory([deployment])
	{x.msg | some x in v} == {"maxReplicas 3 is below minReplicas 4"}
}

test_no_spread_required_by_default if {
	count(hpa_consistency.violation) == 0 with input as testing.review_in("shop", hpa({"minReplicas": 3, "maxReplicas": 3}), parameters) with data.inventory as testing.inventory([deployment])
}

test_malformed_hpa_does_not_error if {
	h := hpa({"minReplicas": "two", "maxReplicas": "ten", "scaleTargetRef": {"kind": 7, "name": null}})
	count(hpa_consistency.violation) == 0 with input as testing.review_in("shop", h, parameters) with data.inventory as testing.inventory([deployment])
	count(hpa_consistency.violation) == 0 with input as testing.review_in("shop", json.remove(hpa({"minReplicas": 2}), ["spec/scaleTargetRef"]), parameters) with data.inventory as {}
}

# --- workloads ---

test_workload_setting_replicas_under_hpa_is_reported if {
	d := object.union(deployment, {"spec": {"replicas": 3}})
	v := hpa_consistency.violation with input as testing.review_in("shop", d, parameters) with data.inventory as testing.inventory([hpa({"minReplicas": 3, "maxReplicas": 10})])
	v == {{
		"msg": "sets spec.replicas to 3 although HorizontalPodAutoscaler checkout-hpa scales it: every apply resets the replica count",
		"details": {"replicas": 3, "hpa": "checkout-hpa", "case": "replicas_set", "path": "spec.replicas"},
	}}
}

test_workload_without_replicas_passes if {
	count(hpa_consistency.violation) == 0 with input as testing.review_in("shop", deployment, parameters) with data.inventory as testing.inventory([hpa({"minReplicas": 3, "maxReplicas": 10})])
}

test_workload_without_hpa_may_set_replicas if {
	d := object.union(deployment, {"spec": {"replicas": 3}})
	count(hpa_consistency.violation) == 0 with input as testing.review_in("shop", d, parameters) with data.inventory as {}
	other := hpa({"minReplicas": 3, "maxReplicas": 10, "scaleTargetRef": {"kind": "StatefulSet", "name": "checkout"}})
	count(hpa_consistency.violation) == 0 with input as testing.review_in("shop", d, parameters) with data.inventory as testing.inventory([other])
}

test_rollout_setting_replicas_under_hpa_is_reported if {
	ro := object.union(deployment, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "spec": {"replicas": 2}})
	h := hpa({"minReplicas": 2, "maxReplicas": 10, "scaleTargetRef": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}})
	v := hpa_consistency.violation with input as testing.review_in("shop", ro, parameters) with data.inventory as testing.inventory([h])
	{x.details.hpa | some x in v} == {"checkout-hpa"}
}

test_kind_falls_back_to_the_object_when_the_request_names_none if {
	inp := {"review": {"object": hpa({"minReplicas": 1, "maxReplicas": 5}), "namespace": "shop"}, "parameters": parameters}
	v := hpa_consistency.violation with input as inp with data.inventory as testing.inventory([deployment])
	{x.details.case | some x in v} == {"min_below_floor"}
}
