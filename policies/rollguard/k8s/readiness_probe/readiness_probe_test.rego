package rollguard.k8s.readiness_probe_test

import data.rollguard.k8s.readiness_probe

deployment(containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": containers}}},
}

review(obj) := {"review": {"object": obj, "kind": {"kind": obj.kind}}, "parameters": {"exempt_images": []}}

test_container_without_probe_is_reported if {
	v := readiness_probe.violation with input as review(deployment([{"name": "app", "image": "app:1"}]))
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app"},
	}}
}

test_container_with_probe_passes if {
	c := {"name": "app", "image": "app:1", "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}
	count(readiness_probe.violation) == 0 with input as review(deployment([c]))
}

test_init_containers_are_not_judged if {
	obj := json.patch(deployment([{"name": "app", "image": "app:1", "readinessProbe": {"exec": {"command": ["true"]}}}]), [{
		"op": "add",
		"path": "/spec/template/spec/initContainers",
		"value": [{"name": "migrate", "image": "migrate:1"}],
	}])
	count(readiness_probe.violation) == 0 with input as review(obj)
}

test_exempt_image_prefix if {
	inp := object.union(review(deployment([{"name": "proxy", "image": "istio/proxyv2:1.20"}])), {"parameters": {"exempt_images": ["istio/"]}})
	count(readiness_probe.violation) == 0 with input as inp
}

test_each_container_reported_once if {
	v := readiness_probe.violation with input as review(deployment([
		{"name": "a", "image": "a:1"},
		{"name": "b", "image": "b:1", "readinessProbe": {"tcpSocket": {"port": 1}}},
		{"name": "c", "image": "c:1"},
	]))
	{d.details.container | some d in v} == {"a", "c"}
}
