package rollguard.k8s.replicas_minimum_test

import data.rollguard.k8s.replicas_minimum
import data.rollguard.lib.testing

workload(kind, spec) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": object.union({"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}, spec),
}

create_in_shop := {"namespace": "shop", "operation": "CREATE"}

parameters := {"min_replicas": 2, "max_replicas": null}

hpa(hpa_name, target_kind, target_name, spec) := {
	"apiVersion": "autoscaling/v2",
	"kind": "HorizontalPodAutoscaler",
	"metadata": {"name": hpa_name, "namespace": "shop"},
	"spec": object.union(
		{"scaleTargetRef": {"apiVersion": "apps/v1", "kind": target_kind, "name": target_name}, "maxReplicas": 10},
		spec,
	),
}

test_single_replica_is_reported if {
	v := replicas_minimum.violation with input as testing.request(workload("Deployment", {"replicas": 1}), create_in_shop, parameters)
	v == {{
		"msg": "replicas is 1, below the minimum of 2",
		"details": {"replicas": 1, "min_replicas": 2, "case": "below_minimum", "path": "spec.replicas"},
	}}
}

test_unset_replicas_count_as_one if {
	v := replicas_minimum.violation with input as testing.request(workload("StatefulSet", {}), create_in_shop, parameters)
	v == {{
		"msg": "replicas is unset (Kubernetes runs 1), below the minimum of 2",
		"details": {"replicas": 1, "min_replicas": 2, "case": "below_minimum", "path": "spec.replicas"},
	}}
}

test_enough_replicas_pass if {
	every kind in ["Deployment", "StatefulSet", "ReplicaSet", "Rollout"] {
		count(replicas_minimum.violation) == 0 with input as testing.request(workload(kind, {"replicas": 2}), create_in_shop, parameters)
	}
}

test_hpa_with_enough_min_replicas_passes if {
	inv := testing.inventory([hpa("web", "Deployment", "web", {"minReplicas": 3})])
	count(replicas_minimum.violation) == 0 with input as testing.request(workload("Deployment", {}), create_in_shop, parameters)
		with data.inventory as inv
}

test_hpa_min_replicas_defaults_to_one if {
	inv := testing.inventory([hpa("web-hpa", "Deployment", "web", {})])
	v := replicas_minimum.violation with input as testing.request(workload("Deployment", {"replicas": 1}), create_in_shop, parameters)
		with data.inventory as inv
	v == {{
		"msg": "replicas is 1 and the HorizontalPodAutoscaler keeps minReplicas at 1, below the minimum of 2",
		"details": {"replicas": 1, "min_replicas": 2, "hpa": ["web-hpa"], "hpa_min_replicas": 1, "case": "hpa_below_minimum", "path": "spec.replicas"},
	}}
}

test_hpa_for_another_target_does_not_count if {
	inv := testing.inventory([
		hpa("other", "Deployment", "other", {"minReplicas": 5}),
		hpa("web-sts", "StatefulSet", "web", {"minReplicas": 5}),
	])
	v := replicas_minimum.violation with input as testing.request(workload("Deployment", {"replicas": 1}), create_in_shop, parameters)
		with data.inventory as inv
	{x.details | some x in v} == {{"replicas": 1, "min_replicas": 2, "case": "below_minimum", "path": "spec.replicas"}}
}

test_hpa_in_another_namespace_does_not_count if {
	h := hpa("web", "Deployment", "web", {"minReplicas": 3})
	inv := {"namespace": {"other": {"autoscaling/v2": {"HorizontalPodAutoscaler": {"web": h}}}}}
	v := replicas_minimum.violation with input as testing.request(workload("Deployment", {"replicas": 1}), create_in_shop, parameters)
		with data.inventory as inv
	count(v) == 1
}

test_min_replicas_parameter if {
	inp := object.union(testing.request(workload("Deployment", {"replicas": 2}), create_in_shop, parameters), {"parameters": {"min_replicas": 3}})
	v := replicas_minimum.violation with input as inp
	v == {{
		"msg": "replicas is 2, below the minimum of 3",
		"details": {"replicas": 2, "min_replicas": 3, "case": "below_minimum", "path": "spec.replicas"},
	}}

	relaxed := object.union(testing.request(workload("Deployment", {"replicas": 1}), create_in_shop, parameters), {"parameters": {"min_replicas": 1}})
	count(replicas_minimum.violation) == 0 with input as relaxed
}

test_malformed_hpa_and_replicas_raise_no_error if {
	inv := testing.inventory([hpa("web", "Deployment", "web", {"minReplicas": "3"})])
	v := replicas_minimum.violation with input as testing.request(workload("Deployment", {"replicas": "3"}), create_in_shop, parameters)
		with data.inventory as inv
	{x.details.hpa_min_replicas | some x in v} == {1}
}

test_replica_sets_controlled_by_a_deployment_are_skipped if {
	owned := object.union(workload("ReplicaSet", {"replicas": 0}), {"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": true}]}})
	count(replicas_minimum.violation) == 0 with input as testing.request(owned, create_in_shop, parameters)

	# A bare ReplicaSet, or one with a non-controller owner, is judged itself.
	loose := object.union(workload("ReplicaSet", {"replicas": 1}), {"metadata": {"ownerReferences": [{"kind": "ConfigMap", "name": "x"}]}})
	v := replicas_minimum.violation with input as testing.request(loose, create_in_shop, parameters)
	{x.details | some x in v} == {{"replicas": 1, "min_replicas": 2, "case": "below_minimum", "path": "spec.replicas"}}
}

test_max_replicas_parameter if {
	inp := object.union(testing.request(workload("Deployment", {"replicas": 100}), create_in_shop, parameters), {"parameters": {"min_replicas": 3, "max_replicas": 50}})
	v := replicas_minimum.violation with input as inp
	v == {{
		"msg": "replicas is 100, above the maximum of 50",
		"details": {"replicas": 100, "max_replicas": 50, "case": "above_maximum", "path": "spec.replicas"},
	}}

	at_limit := object.union(testing.request(workload("Deployment", {"replicas": 50}), create_in_shop, parameters), {"parameters": {"max_replicas": 50}})
	count(replicas_minimum.violation) == 0 with input as at_limit
}

test_no_upper_limit_by_default if {
	count(replicas_minimum.violation) == 0 with input as testing.request(workload("Deployment", {"replicas": 1000}), create_in_shop, parameters)
	malformed := object.union(testing.request(workload("Deployment", {"replicas": 1000}), create_in_shop, parameters), {"parameters": {"max_replicas": "50"}})
	count(replicas_minimum.violation) == 0 with input as malformed
}

test_max_replicas_skips_unset_and_controlled_replicas if {
	# An unset field runs 1 replica, which no limit (minimum 1) forbids.
	capped := object.union(testing.request(workload("StatefulSet", {"replicas": 2}), create_in_shop, parameters), {"parameters": {"max_replicas": 1}})
	v := replicas_minimum.violation with input as capped
	{x.msg | some x in v} == {"replicas is 2, above the maximum of 1"}
	unset := object.union(testing.request(workload("StatefulSet", {}), create_in_shop, parameters), {"parameters": {"min_replicas": 1, "max_replicas": 1}})
	count(replicas_minimum.violation) == 0 with input as unset

	owned := object.union(workload("ReplicaSet", {"replicas": 9}), {"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": true}]}})
	count(replicas_minimum.violation) == 0 with input as object.union(testing.request(owned, create_in_shop, parameters), {"parameters": {"max_replicas": 5}})
}

rollout_with_ref(ns, ref) := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "Rollout",
	"metadata": {"name": "web-rollout", "namespace": ns},
	"spec": {"replicas": 3, "workloadRef": ref, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
}

rollout_inventory(rollouts) := {"namespace": {r.metadata.namespace: {"argoproj.io/v1alpha1": {"Rollout": {r.metadata.name: r}}} | some r in rollouts}}

web_ref := {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}

test_deployment_run_by_a_rollout_workload_ref_is_skipped if {
	inv := rollout_inventory([rollout_with_ref("shop", web_ref)])
	count(replicas_minimum.violation) == 0 with input as testing.request(workload("Deployment", {"replicas": 0}), create_in_shop, parameters)
		with data.inventory as inv

	# Its replicas are the Rollout's, so no limit applies to the Deployment either.
	capped := object.union(testing.request(workload("Deployment", {"replicas": 9}), create_in_shop, parameters), {"parameters": {"max_replicas": 5}})
	count(replicas_minimum.violation) == 0 with input as capped with data.inventory as inv
}

test_workload_ref_must_name_this_deployment_in_this_namespace if {
	zero := {"msg": "replicas is 0, below the minimum of 2", "details": {"replicas": 0, "min_replicas": 2, "case": "below_minimum", "path": "spec.replicas"}}
	every inv in [
		rollout_inventory([rollout_with_ref("other", web_ref)]),
		rollout_inventory([rollout_with_ref("shop", object.union(web_ref, {"name": "api"}))]),
		rollout_inventory([rollout_with_ref("shop", object.union(web_ref, {"kind": "StatefulSet"}))]),
		rollout_inventory([rollout_with_ref("shop", object.union(web_ref, {"apiVersion": "extensions/v1beta1"}))]),
		rollout_inventory([rollout_with_ref("shop", "web")]),
	] {
		v := replicas_minimum.violation with input as testing.request(workload("Deployment", {"replicas": 0}), create_in_shop, parameters) with data.inventory as inv
		v == {zero}
	}
}

test_workload_ref_skips_only_deployments if {
	# A StatefulSet of the same name is not what a workloadRef to a Deployment names.
	inv := rollout_inventory([rollout_with_ref("shop", web_ref)])
	v := replicas_minimum.violation with input as testing.request(workload("StatefulSet", {"replicas": 1}), create_in_shop, parameters) with data.inventory as inv
	v == {{"msg": "replicas is 1, below the minimum of 2", "details": {"replicas": 1, "min_replicas": 2, "case": "below_minimum", "path": "spec.replicas"}}}
}
