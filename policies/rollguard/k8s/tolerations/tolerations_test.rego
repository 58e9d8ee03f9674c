package rollguard.k8s.tolerations_test

import data.rollguard.k8s.tolerations
import data.rollguard.lib.testing

workload(kind, tols) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"tolerations": tols, "containers": [{"name": "app", "image": "app:1"}]}}},
}

test_blanket_toleration_is_reported if {
	v := tolerations.violation with input as testing.review(workload("Deployment", [{"operator": "Exists"}]), {})
	v == {{
		"msg": "toleration 0 has operator Exists and no key, so it tolerates every taint: pods land on cordoned and dedicated nodes and stay on unreachable ones",
		"details": {"index": 0, "effect": "", "path": "spec.template.spec.tolerations[0]"},
	}}
}

test_blanket_toleration_per_effect_is_reported if {
	tols := [
		{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
		{"operator": "Exists", "effect": "NoSchedule"},
		{"operator": "Exists", "key": "", "effect": "NoExecute"},
		{"operator": "Exists", "effect": "PreferNoSchedule"},
	]
	v := tolerations.violation with input as testing.review(workload("StatefulSet", tols), {})
	v == {
		{
			"msg": "toleration 1 has operator Exists and no key, so it tolerates every NoSchedule taint: pods land on cordoned and dedicated nodes",
			"details": {"index": 1, "effect": "NoSchedule", "path": "spec.template.spec.tolerations[1]"},
		},
		{
			"msg": "toleration 2 has operator Exists and no key, so it tolerates every NoExecute taint: pods stay on unreachable and not-ready nodes instead of being rescheduled",
			"details": {"index": 2, "effect": "NoExecute", "path": "spec.template.spec.tolerations[2]"},
		},
		{
			"msg": "toleration 3 has operator Exists and no key, so it tolerates every PreferNoSchedule taint",
			"details": {"index": 3, "effect": "PreferNoSchedule", "path": "spec.template.spec.tolerations[3]"},
		},
	}
}

test_keyed_tolerations_pass if {
	tols := [
		{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
		{"key": "dedicated", "operator": "Equal", "value": "web"},
		{"operator": "Equal", "value": "x"},
	]
	count(tolerations.violation) == 0 with input as testing.review(workload("Deployment", tols), {})
}

test_daemonsets_may_tolerate_everything if {
	count(tolerations.violation) == 0 with input as testing.review(workload("DaemonSet", [{"operator": "Exists"}]), {})
}

test_pods_and_cronjobs_are_judged if {
	pod := {"kind": "Pod", "metadata": {"name": "one"}, "spec": {"tolerations": [{"operator": "Exists"}], "containers": []}}
	v := tolerations.violation with input as testing.review(pod, {})
	{x.details.path | some x in v} == {"spec.tolerations[0]"}

	cron := {"kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"tolerations": [{"operator": "Exists"}]}}}}}}
	w := tolerations.violation with input as testing.review(cron, {})
	{x.details.path | some x in w} == {"spec.jobTemplate.spec.template.spec.tolerations[0]"}
}

test_malformed_tolerations_raise_no_error if {
	every tols in [null, "Exists", {"a": {"operator": "Exists"}}, [null, "Exists", {"operator": "Exists", "key": 5, "effect": 7}]] {
		count(tolerations.violation) <= 1 with input as testing.review(workload("Deployment", tols), {})
	}
	v := tolerations.violation with input as testing.review(workload("Deployment", [null, {"operator": "Exists", "key": 5, "effect": 7}]), {})
	{x.details | some x in v} == {{"index": 1, "effect": "", "path": "spec.template.spec.tolerations[1]"}}
}
