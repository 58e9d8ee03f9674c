package rollguard.k8s.resources_test

import data.rollguard.k8s.resources
import data.rollguard.lib.testing

complete := {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}

deployment(containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": containers}}},
}

container(res) := {"name": "app", "image": "app:1", "resources": res}

test_complete_resources_pass if {
	count(resources.violation) == 0 with input as testing.review(deployment([container(complete)]), {})
}

test_no_resources_reports_every_missing_one if {
	v := resources.violation with input as testing.review(deployment([{"name": "app", "image": "app:1"}]), {})
	v == {{
		"msg": `container "app" does not set requests.cpu, requests.memory, limits.memory`,
		"details": {"container": "app", "missing": ["requests.cpu", "requests.memory", "limits.memory"], "path": "spec.template.spec.containers[0].resources.requests.cpu"},
	}}
}

test_missing_memory_limit_is_reported if {
	v := resources.violation with input as testing.review(deployment([container({"requests": {"cpu": "250m", "memory": "256Mi"}})]), {})
	v == {{
		"msg": `container "app" does not set limits.memory`,
		"details": {"container": "app", "missing": ["limits.memory"], "path": "spec.template.spec.containers[0].resources.limits.memory"},
	}}
}

test_missing_cpu_request_is_reported if {
	v := resources.violation with input as testing.review(deployment([container({"requests": {"memory": "256Mi"}, "limits": {"memory": "256Mi"}})]), {})
	v == {{
		"msg": `container "app" does not set requests.cpu`,
		"details": {"container": "app", "missing": ["requests.cpu"], "path": "spec.template.spec.containers[0].resources.requests.cpu"},
	}}
}

test_limits_stand_in_for_requests if {
	count(resources.violation) == 0 with input as testing.review(deployment([container({"limits": {"cpu": "1", "memory": "1Gi"}})]), {})
	count(resources.violation) == 0 with input as testing.review(deployment([container({"requests": {"cpu": 1}, "limits": {"memory": 1073741824}})]), {})
}

test_empty_or_null_values_are_missing if {
	v := resources.violation with input as testing.review(deployment([container({"requests": {"cpu": "", "memory": null}, "limits": {"memory": "256Mi"}})]), {})
	{x.details.missing | some x in v} == {["requests.cpu"]}
}

test_init_containers_judged_ephemeral_not if {
	o := json.patch(deployment([container(complete)]), [
		{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "m:1", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
		{"op": "add", "path": "/spec/template/spec/ephemeralContainers", "value": [{"name": "debug", "image": "d:1"}]},
	])
	v := resources.violation with input as testing.review(o, {})
	v == {{
		"msg": `container "migrate" does not set limits.memory`,
		"details": {"container": "migrate", "missing": ["limits.memory"], "path": "spec.template.spec.initContainers[0].resources.limits.memory"},
	}}
}

test_pod_and_cronjob_are_judged if {
	pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "p", "image": "p:1"}]}}
	count(resources.violation) == 1 with input as testing.review(pod, {})
	cj := {
		"apiVersion": "batch/v1",
		"kind": "CronJob",
		"metadata": {"name": "c"},
		"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "c:1"}]}}}}},
	}
	count(resources.violation) == 1 with input as testing.review(cj, {})
}

test_malformed_resources_do_not_error if {
	v := resources.violation with input as testing.review(deployment([container("lots"), container({"requests": [1], "limits": 5})]), {})
	count(v) == 1
	count(resources.violation) == 0 with input as testing.review({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [], "initContainers": 3}}}}, {})
}
