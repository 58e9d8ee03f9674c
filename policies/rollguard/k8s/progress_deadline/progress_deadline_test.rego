package rollguard.k8s.progress_deadline_test

import data.rollguard.k8s.progress_deadline
import data.rollguard.lib.testing

workload(kind, spec) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": object.union({"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}, spec),
}

parameters := {"max_seconds": 900}

test_deadline_within_limit_passes if {
	every kind in ["Deployment", "Rollout"] {
		every seconds in [1, 600, 900] {
			count(progress_deadline.violation) == 0 with input as testing.review(workload(kind, {"progressDeadlineSeconds": seconds}), parameters)
		}
	}
}

test_unset_deadline_is_reported if {
	v := progress_deadline.violation with input as testing.review(workload("Deployment", {}), parameters)
	v == {{
		"msg": "progressDeadlineSeconds is not set, so when a stuck rollout is reported as failed is left to the API version's default",
		"details": {"progress_deadline_seconds": null, "max_seconds": 900},
	}}
}

test_null_deadline_counts_as_unset if {
	v := progress_deadline.violation with input as testing.review(workload("Rollout", {"progressDeadlineSeconds": null}), parameters)
	{x.details | some x in v} == {{"progress_deadline_seconds": null, "max_seconds": 900}}
}

test_long_deadline_is_reported if {
	v := progress_deadline.violation with input as testing.review(workload("Deployment", {"progressDeadlineSeconds": 3600}), parameters)
	v == {{
		"msg": "progressDeadlineSeconds is 3600, above the maximum of 900: a stuck rollout is reported as failed only that late",
		"details": {"progress_deadline_seconds": 3600, "max_seconds": 900},
	}}
}

test_max_seconds_parameter if {
	inp := object.union(testing.review(workload("Deployment", {"progressDeadlineSeconds": 3600}), parameters), {"parameters": {"max_seconds": 3600}})
	count(progress_deadline.violation) == 0 with input as inp

	strict := object.union(testing.review(workload("Deployment", {"progressDeadlineSeconds": 600}), parameters), {"parameters": {"max_seconds": 300}})
	v := progress_deadline.violation with input as strict
	{x.details | some x in v} == {{"progress_deadline_seconds": 600, "max_seconds": 300}}
}

test_non_numeric_deadline_is_reported_without_error if {
	v := progress_deadline.violation with input as testing.review(workload("Deployment", {"progressDeadlineSeconds": "600"}), parameters)
	v == {{
		"msg": `progressDeadlineSeconds "600" is not a number of seconds`,
		"details": {"progress_deadline_seconds": "600", "max_seconds": 900},
	}}
}

test_other_malformed_values if {
	v := progress_deadline.violation with input as testing.review(workload("Deployment", {"progressDeadlineSeconds": {"seconds": 600}}), parameters)
	{x.msg | some x in v} == {`progressDeadlineSeconds {"seconds":600} is not a number of seconds`}
}

test_missing_spec_is_reported_as_unset if {
	v := progress_deadline.violation with input as testing.review({"kind": "Deployment", "metadata": {"name": "web"}}, parameters)
	count(v) == 1
}
