package rollguard.k8s.pdb_coverage_test

import data.rollguard.k8s.pdb_coverage
import data.rollguard.lib.testing

labels := {"app.kubernetes.io/name": "checkout"}

deployment(replicas) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": {
		"replicas": replicas,
		"selector": {"matchLabels": labels},
		"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
	},
}

pdb(spec) := {
	"apiVersion": "policy/v1",
	"kind": "PodDisruptionBudget",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": with_selector(spec),
}

# Shallow: object.union would merge a test's selector into the default one.
with_selector(spec) := spec if {
	_ = spec.selector
} else := object.union(spec, {"selector": {"matchLabels": labels}})

labels_path := "spec.template.metadata.labels"

# The details of a workload's finding about PodDisruptionBudget checkout, which blocks evictions.
blocking(field, value, replicas) := {
	"pdb": "checkout",
	"field": field,
	"value": value,
	"replicas": replicas,
	"case": "blocking_budget",
	"path": labels_path,
}

hpa(target, min_replicas) := {
	"apiVersion": "autoscaling/v2",
	"kind": "HorizontalPodAutoscaler",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": {
		"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
		"minReplicas": min_replicas,
		"maxReplicas": 10,
	},
}

without_selector_deployment := json.remove(deployment(3), ["spec/template"])

# --- workloads ---

test_replicated_deployment_without_pdb_is_reported if {
	v := pdb_coverage.violation with input as testing.review_in("shop", deployment(3), {}) with data.inventory as testing.inventory([deployment(3)])
	v == {{
		"msg": `runs 3 replicas but no PodDisruptionBudget in namespace "shop" selects its pods`,
		"details": {"replicas": 3, "namespace": "shop", "case": "no_budget", "path": labels_path},
	}}
}

test_covered_deployment_passes if {
	inv := testing.inventory([deployment(3), pdb({"maxUnavailable": 1})])
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", deployment(3), {}) with data.inventory as inv
}

test_single_replica_needs_no_pdb if {
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", deployment(1), {}) with data.inventory as {}
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", json.remove(deployment(3), ["spec/replicas"]), {}) with data.inventory as {}
}

test_pdb_in_other_namespace_does_not_cover if {
	other := json.patch(pdb({"maxUnavailable": 1}), [{"op": "replace", "path": "/metadata/namespace", "value": "other"}])
	v := pdb_coverage.violation with input as testing.review_in("shop", deployment(2), {}) with data.inventory as testing.inventory([other])
	{x.details.replicas | some x in v} == {2}
}

test_pdb_selecting_other_labels_does_not_cover if {
	p := pdb({"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "cart"}}})
	count(pdb_coverage.violation) == 1 with input as testing.review_in("shop", deployment(2), {}) with data.inventory as testing.inventory([p])
}

test_match_expressions_selector_covers if {
	p := pdb({"maxUnavailable": 1, "selector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["checkout", "cart"]}]}})
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", deployment(2), {}) with data.inventory as testing.inventory([p])
}

test_empty_selector_covers_only_in_policy_v1 if {
	v1 := pdb({"maxUnavailable": 1, "selector": {}})
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", deployment(2), {}) with data.inventory as testing.inventory([v1])
	beta := object.union(v1, {"apiVersion": "policy/v1beta1"})
	count(pdb_coverage.violation) == 1 with input as testing.review_in("shop", deployment(2), {}) with data.inventory as testing.inventory([beta])
	missing := json.remove(v1, ["spec/selector"])
	count(pdb_coverage.violation) == 1 with input as testing.review_in("shop", deployment(2), {}) with data.inventory as testing.inventory([missing])
}

test_statefulset_and_rollout_are_judged if {
	sts := object.union(deployment(3), {"kind": "StatefulSet"})
	count(pdb_coverage.violation) == 1 with input as testing.review_in("shop", sts, {}) with data.inventory as {}
	ro := object.union(deployment(3), {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"})
	count(pdb_coverage.violation) == 1 with input as testing.review_in("shop", ro, {}) with data.inventory as {}
}

test_daemonset_is_not_judged if {
	ds := object.union(deployment(3), {"kind": "DaemonSet"})
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", ds, {}) with data.inventory as {}
}

test_rollout_with_workload_ref_is_skipped if {
	ro := object.union(without_selector_deployment, {
		"apiVersion": "argoproj.io/v1alpha1",
		"kind": "Rollout",
		"spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}},
	})
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", ro, {}) with data.inventory as {}
}

test_hpa_min_replicas_counts_when_replicas_unset if {
	dep := json.remove(deployment(3), ["spec/replicas"])
	v := pdb_coverage.violation with input as testing.review_in("shop", dep, {}) with data.inventory as testing.inventory([hpa("checkout", 3)])
	v == {{
		"msg": `runs 3 replicas but no PodDisruptionBudget in namespace "shop" selects its pods`,
		"details": {"replicas": 3, "namespace": "shop", "case": "no_budget", "path": labels_path},
	}}
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", dep, {}) with data.inventory as testing.inventory([hpa("other", 3)])
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", dep, {}) with data.inventory as testing.inventory([json.remove(hpa("checkout", 3), ["spec/minReplicas"])])
}

test_malformed_replicas_default_to_one if {
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", deployment("3"), {}) with data.inventory as {}
}

test_workload_under_max_unavailable_zero_budget_is_reported if {
	v := pdb_coverage.violation with input as testing.review_in("shop", deployment(3), {}) with data.inventory as testing.inventory([pdb({"maxUnavailable": 0})])
	v == {{
		"msg": "PodDisruptionBudget checkout selects its pods with maxUnavailable 0: none of its 3 replicas can be evicted voluntarily, so node drains and cluster upgrades hang",
		"details": {
			"pdb": "checkout",
			"field": "maxUnavailable",
			"value": 0,
			"replicas": 3,
			"case": "blocking_budget",
			"path": labels_path,
		},
	}}
}

test_workload_under_min_available_of_all_replicas_is_reported if {
	v := pdb_coverage.violation with input as testing.review_in("shop", deployment(3), {}) with data.inventory as testing.inventory([pdb({"minAvailable": 3})])
	v == {{
		"msg": "PodDisruptionBudget checkout selects its pods with minAvailable 3, not below its 3 replicas: no pod can be evicted voluntarily",
		"details": {
			"pdb": "checkout",
			"field": "minAvailable",
			"value": 3,
			"replicas": 3,
			"case": "blocking_budget",
			"path": labels_path,
		},
	}}
	pct := pdb_coverage.violation with input as testing.review_in("shop", deployment(3), {}) with data.inventory as testing.inventory([pdb({"minAvailable": "100%"})])
	{x.details | some x in pct} == {blocking("minAvailable", "100%", 3)}
	ninety := pdb_coverage.violation with input as testing.review_in("shop", deployment(3), {}) with data.inventory as testing.inventory([pdb({"minAvailable": "90%"})])
	{x.details.value | some x in ninety} == {"90%"}
}

test_single_replica_workload_under_blocking_budget_is_reported if {
	v := pdb_coverage.violation with input as testing.review_in("shop", deployment(1), {}) with data.inventory as testing.inventory([pdb({"minAvailable": 1})])
	{x.details | some x in v} == {blocking("minAvailable", 1, 1)}
}

test_workload_under_evictable_budget_passes if {
	every spec in [{"minAvailable": 2}, {"minAvailable": "50%"}, {"maxUnavailable": 1}, {"maxUnavailable": "25%"}] {
		count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", deployment(3), {}) with data.inventory as testing.inventory([pdb(spec)])
	}
}

test_blocking_budget_selecting_a_subset_of_labels_is_reported if {
	p := pdb({"minAvailable": 3, "selector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}}})
	dep := json.patch(deployment(3), [{"op": "add", "path": "/spec/template/metadata/labels/tier", "value": "web"}])
	v := pdb_coverage.violation with input as testing.review_in("shop", dep, {}) with data.inventory as testing.inventory([p])
	{x.details.pdb | some x in v} == {"checkout"}
}

test_blocking_budget_for_other_pods_is_not_this_workloads if {
	p := json.patch(pdb({"minAvailable": 3, "selector": {"matchLabels": {"app.kubernetes.io/name": "cart"}}}), [{"op": "replace", "path": "/metadata/name", "value": "cart"}])
	v := pdb_coverage.violation with input as testing.review_in("shop", deployment(3), {}) with data.inventory as testing.inventory([p])
	{x.msg | some x in v} == {`runs 3 replicas but no PodDisruptionBudget in namespace "shop" selects its pods`}
}

test_every_blocking_budget_is_named if {
	strict := json.patch(pdb({"maxUnavailable": 0}), [{"op": "replace", "path": "/metadata/name", "value": "strict"}])
	v := pdb_coverage.violation with input as testing.review_in("shop", deployment(2), {}) with data.inventory as testing.inventory([pdb({"minAvailable": 2}), strict])
	{x.details.pdb | some x in v} == {"checkout", "strict"}
}

test_workload_side_uses_hpa_min_replicas if {
	dep := json.remove(deployment(3), ["spec/replicas"])
	v := pdb_coverage.violation with input as testing.review_in("shop", dep, {}) with data.inventory as testing.inventory([pdb({"minAvailable": 2}), hpa("checkout", 2)])
	{x.details | some x in v} == {blocking("minAvailable", 2, 2)}
}

test_scaled_to_zero_workload_is_not_blocked if {
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", deployment(0), {}) with data.inventory as testing.inventory([pdb({"maxUnavailable": 0})])
}

test_replication_controller_is_judged if {
	rc := {
		"apiVersion": "v1",
		"kind": "ReplicationController",
		"metadata": {"name": "checkout", "namespace": "shop"},
		"spec": {
			"replicas": 3,
			"selector": labels,
			"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
		},
	}
	v := pdb_coverage.violation with input as testing.review_in("shop", rc, {}) with data.inventory as testing.inventory([pdb({"minAvailable": 3})])
	{x.details | some x in v} == {blocking("minAvailable", 3, 3)}
	uncovered := pdb_coverage.violation with input as testing.review_in("shop", rc, {}) with data.inventory as {}
	{x.details | some x in uncovered} == {{"replicas": 3, "namespace": "shop", "case": "no_budget", "path": labels_path}}
	budget := pdb_coverage.violation with input as testing.review_in("shop", pdb({"minAvailable": 3}), {}) with data.inventory as testing.inventory([rc])
	{x.details.workload | some x in budget} == {"ReplicationController/checkout"}
}

# --- budgets ---

test_max_unavailable_zero_is_reported if {
	v := pdb_coverage.violation with input as testing.review_in("shop", pdb({"maxUnavailable": 0}), {}) with data.inventory as {}
	v == {{
		"msg": "maxUnavailable is 0: no pod can ever be evicted voluntarily, so node drains and cluster upgrades hang",
		"details": {"field": "maxUnavailable", "value": 0, "case": "blocks_eviction", "path": "spec.maxUnavailable"},
	}}
}

test_max_unavailable_zero_percent_is_reported if {
	v := pdb_coverage.violation with input as testing.review_in("shop", pdb({"maxUnavailable": "0%"}), {}) with data.inventory as {}
	v == {{
		"msg": "maxUnavailable is 0%: no pod can ever be evicted voluntarily, so node drains and cluster upgrades hang",
		"details": {"field": "maxUnavailable", "value": "0%", "case": "blocks_eviction", "path": "spec.maxUnavailable"},
	}}
}

test_max_unavailable_non_zero_passes if {
	inv := testing.inventory([deployment(3)])
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", pdb({"maxUnavailable": 1}), {}) with data.inventory as inv
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", pdb({"maxUnavailable": "10%"}), {}) with data.inventory as inv
}

test_min_available_hundred_percent_is_reported if {
	v := pdb_coverage.violation with input as testing.review_in("shop", pdb({"minAvailable": "100%"}), {}) with data.inventory as testing.inventory([deployment(3)])
	v == {{
		"msg": "minAvailable is 100%: every selected pod must stay up, so no pod can be evicted voluntarily",
		"details": {"field": "minAvailable", "value": "100%", "case": "blocks_eviction", "path": "spec.minAvailable"},
	}}
}

test_min_available_equal_to_replicas_is_reported if {
	v := pdb_coverage.violation with input as testing.review_in("shop", pdb({"minAvailable": 3}), {}) with data.inventory as testing.inventory([deployment(3)])
	v == {{
		"msg": "minAvailable 3 is not below the 3 replicas of Deployment checkout: no pod can be evicted voluntarily",
		"details": {
			"field": "minAvailable",
			"value": 3,
			"workload": "Deployment/checkout",
			"replicas": 3,
			"case": "min_available_not_below_replicas",
			"path": "spec.minAvailable",
		},
	}}
}

test_min_available_below_replicas_passes if {
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", pdb({"minAvailable": 2}), {}) with data.inventory as testing.inventory([deployment(3)])
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", pdb({"minAvailable": "50%"}), {}) with data.inventory as testing.inventory([deployment(3)])
}

test_min_available_percentage_rounds_up if {
	# ceil(90% of 3) = 3: the budget allows no disruption, as the disruption controller rounds up.
	v := pdb_coverage.violation with input as testing.review_in("shop", pdb({"minAvailable": "90%"}), {}) with data.inventory as testing.inventory([deployment(3)])
	{x.details.replicas | some x in v} == {3}
}

test_min_available_against_unselected_workload_passes if {
	other := json.patch(deployment(1), [
		{"op": "replace", "path": "/metadata/name", "value": "cart"},
		{"op": "replace", "path": "/spec/template/metadata/labels", "value": {"app.kubernetes.io/name": "cart"}},
	])
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", pdb({"minAvailable": 2}), {}) with data.inventory as testing.inventory([deployment(3), other])
}

test_min_available_uses_hpa_min_replicas if {
	dep := json.remove(deployment(3), ["spec/replicas"])
	v := pdb_coverage.violation with input as testing.review_in("shop", pdb({"minAvailable": 2}), {}) with data.inventory as testing.inventory([dep, hpa("checkout", 2)])
	{x.details.workload | some x in v} == {"Deployment/checkout"}
}

test_malformed_budget_values_do_not_error if {
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", pdb({"minAvailable": "lots", "maxUnavailable": {"a": 1}}), {}) with data.inventory as testing.inventory([deployment(3)])
	count(pdb_coverage.violation) == 0 with input as testing.review_in("shop", pdb({"selector": "app=checkout", "minAvailable": 1}), {}) with data.inventory as testing.inventory([deployment(3)])
}

test_kind_falls_back_to_the_object_when_the_request_names_none if {
	inp := {"review": {"object": pdb({"maxUnavailable": 0}), "namespace": "shop"}, "parameters": {}}
	v := pdb_coverage.violation with input as inp with data.inventory as testing.inventory([deployment(3)])
	{x.details.case | some x in v} == {"blocks_eviction"}
}
