package rollguard.k8s.readiness_probe_test

import data.rollguard.k8s.readiness_probe
import data.rollguard.lib.testing

deployment(containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": containers}}},
}

default_parameters := {
	"exempt_images": [],
	"probes": ["readinessProbe"],
	"probe_types": ["httpGet", "tcpSocket", "exec", "grpc"],
}

# The parameters of gatekeeper-library's K8sRequiredProbes sample.
both_probes(obj) := object.union(testing.review(obj, default_parameters), {"parameters": {
	"probes": ["readinessProbe", "livenessProbe"],
	"probe_types": ["tcpSocket", "httpGet", "exec"],
}})

tcp := {"tcpSocket": {"port": 8080}}

test_container_without_probe_is_reported if {
	v := readiness_probe.violation with input as testing.review(deployment([{"name": "app", "image": "app:1"}]), default_parameters)
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app", "probe": "readinessProbe"},
	}}
}

test_container_with_probe_passes if {
	c := {"name": "app", "image": "app:1", "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}
	count(readiness_probe.violation) == 0 with input as testing.review(deployment([c]), default_parameters)
}

test_init_containers_are_not_judged if {
	obj := json.patch(deployment([{"name": "app", "image": "app:1", "readinessProbe": {"exec": {"command": ["true"]}}}]), [{
		"op": "add",
		"path": "/spec/template/spec/initContainers",
		"value": [{"name": "migrate", "image": "migrate:1"}],
	}])
	count(readiness_probe.violation) == 0 with input as testing.review(obj, default_parameters)
}

test_exempt_image_prefix if {
	inp := object.union(testing.review(deployment([{"name": "proxy", "image": "istio/proxyv2:1.20"}]), default_parameters), {"parameters": {"exempt_images": ["istio/"]}})
	count(readiness_probe.violation) == 0 with input as inp
}

test_each_container_reported_once if {
	v := readiness_probe.violation with input as testing.review(deployment([
		{"name": "a", "image": "a:1"},
		{"name": "b", "image": "b:1", "readinessProbe": {"tcpSocket": {"port": 1}}},
		{"name": "c", "image": "c:1"},
	]), default_parameters)
	{d.details.container | some d in v} == {"a", "c"}
}

test_probe_without_handler_is_reported if {
	c := {"name": "app", "image": "app:1", "readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 10}}
	v := readiness_probe.violation with input as testing.review(deployment([c]), default_parameters)
	v == {{
		"msg": `container "app" has a readinessProbe with no handler (one of httpGet, tcpSocket, exec, grpc)`,
		"details": {
			"container": "app",
			"probe": "readinessProbe",
			"probe_types": ["httpGet", "tcpSocket", "exec", "grpc"],
		},
	}}
}

test_null_probe_counts_as_missing if {
	# `readinessProbe:` with everything below it commented out parses as null.
	v := readiness_probe.violation with input as testing.review(deployment([{"name": "app", "image": "app:1", "readinessProbe": null}]), default_parameters)
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app", "probe": "readinessProbe"},
	}}
}

test_every_listed_probe_is_required if {
	v := readiness_probe.violation with input as both_probes(deployment([
		{"name": "a", "image": "a:1", "readinessProbe": tcp},
		{"name": "b", "image": "b:1", "livenessProbe": tcp},
		{"name": "c", "image": "c:1", "readinessProbe": tcp, "livenessProbe": tcp},
	]))
	v == {
		{"msg": `container "a" has no livenessProbe`, "details": {"container": "a", "probe": "livenessProbe"}},
		{"msg": `container "b" has no readinessProbe`, "details": {"container": "b", "probe": "readinessProbe"}},
	}
}

test_handler_must_be_one_of_probe_types if {
	grpc := {"grpc": {"port": 9090}}
	v := readiness_probe.violation with input as both_probes(deployment([{"name": "app", "image": "app:1", "readinessProbe": grpc, "livenessProbe": tcp}]))
	v == {{
		"msg": `container "app" has a readinessProbe with no handler (one of tcpSocket, httpGet, exec)`,
		"details": {"container": "app", "probe": "readinessProbe", "probe_types": ["tcpSocket", "httpGet", "exec"]},
	}}

	# With the default probe types a gRPC probe is a handler.
	count(readiness_probe.violation) == 0 with input as testing.review(deployment([{"name": "app", "image": "app:1", "readinessProbe": grpc}]), default_parameters)
}

test_exempt_images_skip_every_probe if {
	inp := object.union(both_probes(deployment([{"name": "proxy", "image": "istio/proxyv2:1.20", "readinessProbe": {}}])), {"parameters": {"exempt_images": ["istio/"]}})
	count(readiness_probe.violation) == 0 with input as inp
}

test_malformed_parameters_fall_back_to_defaults if {
	inp := object.union(testing.review(deployment([{"name": "app", "image": "app:1"}]), default_parameters), {"parameters": {"probes": "livenessProbe", "probe_types": null, "exempt_images": "app"}})
	v := readiness_probe.violation with input as inp
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app", "probe": "readinessProbe"},
	}}
}
