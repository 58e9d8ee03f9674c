package rollguard.k8s.progress_deadline_test

import data.rollguard.k8s.progress_deadline
import data.rollguard.lib.testing

workload(kind, spec) := {
	"apiVersion": api_version(kind),
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": object.union({"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}, spec),
}

api_version("Rollout") := "argoproj.io/v1alpha1"

api_version(kind) := "apps/v1" if kind != "Rollout"

parameters := {"max_seconds": 900}

with_max(inp, n) := object.union(inp, {"parameters": {"max_seconds": n}})

test_deadline_within_limit_passes if {
	every kind in ["Deployment", "Rollout"] {
		every seconds in [1, 600, 900] {
			count(progress_deadline.violation) == 0 with input as testing.review(workload(kind, {"progressDeadlineSeconds": seconds}), parameters)
		}
	}
}

test_unset_deadline_is_the_default_600_and_passes if {
	every kind in ["Deployment", "Rollout"] {
		count(progress_deadline.violation) == 0 with input as testing.review(workload(kind, {}), parameters)
		count(progress_deadline.violation) == 0 with input as testing.review(workload(kind, {"progressDeadlineSeconds": null}), parameters)
	}

	# apps/v1beta2 defaulted it to 600 as well.
	beta2 := object.union(workload("Deployment", {}), {"apiVersion": "apps/v1beta2"})
	count(progress_deadline.violation) == 0 with input as testing.review(beta2, parameters)
}

test_unset_deadline_above_a_lower_maximum_is_reported_with_its_default if {
	v := progress_deadline.violation with input as with_max(testing.review(workload("Deployment", {}), parameters), 300)
	v == {{
		"msg": "progressDeadlineSeconds is not set, so the Deployment API default of 600 applies, above the maximum of 300: a stuck rollout is reported as failed only that late",
		"details": {
			"progress_deadline_seconds": null,
			"default_seconds": 600,
			"default_from": "Deployment API",
			"max_seconds": 300,
			"case": "default_above_maximum",
			"path": "spec.progressDeadlineSeconds",
		},
	}}

	w := progress_deadline.violation with input as with_max(testing.review(workload("Rollout", {"progressDeadlineSeconds": null}), parameters), 599)
	w == {{
		"msg": "progressDeadlineSeconds is not set, so the Argo Rollouts controller default of 600 applies, above the maximum of 599: a stuck rollout is reported as failed only that late",
		"details": {
			"progress_deadline_seconds": null,
			"default_seconds": 600,
			"default_from": "Argo Rollouts controller",
			"max_seconds": 599,
			"case": "default_above_maximum",
			"path": "spec.progressDeadlineSeconds",
		},
	}}

	count(progress_deadline.violation) == 0 with input as with_max(testing.review(workload("Rollout", {}), parameters), 600)
}

test_unset_deadline_on_old_api_versions_is_no_deadline if {
	every api in ["extensions/v1beta1", "apps/v1beta1"] {
		obj := object.union(workload("Deployment", {}), {"apiVersion": api})
		v := progress_deadline.violation with input as testing.review(obj, parameters)
		v == {{
			"msg": sprintf("progressDeadlineSeconds is not set, and %s defaults it to no deadline at all: a stuck rollout is never reported as failed", [api]),
			"details": {
				"progress_deadline_seconds": null,
				"api_version": api,
				"max_seconds": 900,
				"case": "no_deadline",
				"path": "spec.progressDeadlineSeconds",
			},
		}}
	}

	# Set explicitly, an old apiVersion's deadline is judged like any other.
	set := object.union(workload("Deployment", {"progressDeadlineSeconds": 600}), {"apiVersion": "extensions/v1beta1"})
	count(progress_deadline.violation) == 0 with input as testing.review(set, parameters)
}

test_long_deadline_is_reported if {
	v := progress_deadline.violation with input as testing.review(workload("Deployment", {"progressDeadlineSeconds": 3600}), parameters)
	v == {{
		"msg": "progressDeadlineSeconds is 3600, above the maximum of 900: a stuck rollout is reported as failed only that late",
		"details": {"progress_deadline_seconds": 3600, "max_seconds": 900, "case": "above_maximum", "path": "spec.progressDeadlineSeconds"},
	}}
}

test_max_seconds_parameter if {
	count(progress_deadline.violation) == 0 with input as with_max(testing.review(workload("Deployment", {"progressDeadlineSeconds": 3600}), parameters), 3600)

	v := progress_deadline.violation with input as with_max(testing.review(workload("Deployment", {"progressDeadlineSeconds": 600}), parameters), 300)
	{x.details | some x in v} == {{"progress_deadline_seconds": 600, "max_seconds": 300, "case": "above_maximum", "path": "spec.progressDeadlineSeconds"}}
}

test_non_numeric_deadline_is_reported_without_error if {
	v := progress_deadline.violation with input as testing.review(workload("Deployment", {"progressDeadlineSeconds": "600"}), parameters)
	v == {{
		"msg": `progressDeadlineSeconds "600" is not a number of seconds`,
		"details": {"progress_deadline_seconds": "600", "max_seconds": 900, "case": "not_a_number", "path": "spec.progressDeadlineSeconds"},
	}}
}

test_other_malformed_values if {
	v := progress_deadline.violation with input as testing.review(workload("Deployment", {"progressDeadlineSeconds": {"seconds": 600}}), parameters)
	{x.msg | some x in v} == {`progressDeadlineSeconds {"seconds":600} is not a number of seconds`}
}

test_missing_spec_or_api_version_gets_the_default if {
	count(progress_deadline.violation) == 0 with input as testing.review({"kind": "Deployment", "metadata": {"name": "web"}}, parameters)
	v := progress_deadline.violation with input as with_max(testing.review({"kind": "Deployment", "metadata": {"name": "web"}}, parameters), 60)
	{x.details.default_seconds | some x in v} == {600}
}
