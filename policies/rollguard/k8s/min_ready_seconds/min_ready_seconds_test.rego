package rollguard.k8s.min_ready_seconds_test

import data.rollguard.k8s.min_ready_seconds
import data.rollguard.lib.testing

workload(kind, spec) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": object.union({"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}, spec),
}

parameters := {"min_seconds": 5}

test_unset_with_several_replicas_is_reported if {
	v := min_ready_seconds.violation with input as testing.review(workload("Deployment", {"replicas": 3}), parameters)
	v == {{
		"msg": "minReadySeconds is 0 with 3 replicas, below the minimum of 5: a pod that crashes right after turning Ready counts as available",
		"details": {"min_ready_seconds": 0, "min_seconds": 5, "replicas": 3, "path": "spec.minReadySeconds"},
	}}
}

test_short_value_is_reported_for_each_replicated_kind if {
	every kind in ["Deployment", "StatefulSet", "Rollout"] {
		v := min_ready_seconds.violation with input as testing.review(workload(kind, {"replicas": 2, "minReadySeconds": 3}), parameters)
		{x.details | some x in v} == {{"min_ready_seconds": 3, "min_seconds": 5, "replicas": 2, "path": "spec.minReadySeconds"}}
	}
}

test_daemonset_is_always_judged if {
	v := min_ready_seconds.violation with input as testing.review(workload("DaemonSet", {}), parameters)
	v == {{
		"msg": "minReadySeconds is 0, below the minimum of 5: a pod that crashes right after turning Ready counts as available",
		"details": {"min_ready_seconds": 0, "min_seconds": 5, "path": "spec.minReadySeconds"},
	}}
	count(min_ready_seconds.violation) == 0 with input as testing.review(workload("DaemonSet", {"minReadySeconds": 5}), parameters)
}

test_single_replica_and_enough_seconds_pass if {
	count(min_ready_seconds.violation) == 0 with input as testing.review(workload("Deployment", {}), parameters)
	count(min_ready_seconds.violation) == 0 with input as testing.review(workload("Deployment", {"replicas": 1}), parameters)
	count(min_ready_seconds.violation) == 0 with input as testing.review(workload("Deployment", {"replicas": 3, "minReadySeconds": 10}), parameters)
}

test_min_seconds_parameter if {
	inp := object.union(testing.review(workload("Deployment", {"replicas": 3, "minReadySeconds": 10}), parameters), {"parameters": {"min_seconds": 30}})
	v := min_ready_seconds.violation with input as inp
	{x.details | some x in v} == {{"min_ready_seconds": 10, "min_seconds": 30, "replicas": 3, "path": "spec.minReadySeconds"}}

	relaxed := object.union(testing.review(workload("Deployment", {"replicas": 3}), parameters), {"parameters": {"min_seconds": 0}})
	count(min_ready_seconds.violation) == 0 with input as relaxed
}

test_null_counts_as_unset_and_malformed_raises_no_error if {
	v := min_ready_seconds.violation with input as testing.review(workload("Deployment", {"replicas": 3, "minReadySeconds": null}), parameters)
	{x.details.min_ready_seconds | some x in v} == {0}
	count(min_ready_seconds.violation) == 0 with input as testing.review(workload("Deployment", {"replicas": 3, "minReadySeconds": "10"}), parameters)
}
