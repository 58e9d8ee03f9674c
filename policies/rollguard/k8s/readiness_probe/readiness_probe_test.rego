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
	"serving": "ports_or_service",
}

http := [{"name": "http", "containerPort": 8080}]

# A container that declares a port, so it is serving whatever selects it.
serving(c) := object.union({"ports": http}, c)

# The parameters of gatekeeper-library's K8sRequiredProbes sample.
both_probes(obj) := object.union(testing.review(obj, default_parameters), {"parameters": {
	"probes": ["readinessProbe", "livenessProbe"],
	"probe_types": ["tcpSocket", "httpGet", "exec"],
}})

tcp := {"tcpSocket": {"port": 8080}}

test_container_without_probe_is_reported if {
	v := readiness_probe.violation with input as testing.review(deployment([serving({"name": "app", "image": "app:1"})]), default_parameters)
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[0].readinessProbe"},
	}}
}

test_container_with_probe_passes if {
	c := serving({"name": "app", "image": "app:1", "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}})
	count(readiness_probe.violation) == 0 with input as testing.review(deployment([c]), default_parameters)
}

test_init_containers_are_not_judged if {
	obj := json.patch(deployment([serving({"name": "app", "image": "app:1", "readinessProbe": {"exec": {"command": ["true"]}}})]), [{
		"op": "add",
		"path": "/spec/template/spec/initContainers",
		"value": [{"name": "migrate", "image": "migrate:1"}],
	}])
	count(readiness_probe.violation) == 0 with input as testing.review(obj, default_parameters)
}

test_exempt_image_prefix if {
	inp := object.union(testing.review(deployment([serving({"name": "proxy", "image": "istio/proxyv2:1.20"})]), default_parameters), {"parameters": {"exempt_images": ["istio/"]}})
	count(readiness_probe.violation) == 0 with input as inp
}

test_non_string_image_is_not_exempt if {
	inp := object.union(testing.review(deployment([serving({"name": "app", "image": 42})]), default_parameters), {"parameters": {"exempt_images": ["istio/"]}})
	v := readiness_probe.violation with input as inp
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[0].readinessProbe"},
	}}
}

test_each_container_reported_once if {
	v := readiness_probe.violation with input as testing.review(deployment([
		serving({"name": "a", "image": "a:1"}),
		serving({"name": "b", "image": "b:1", "readinessProbe": {"tcpSocket": {"port": 1}}}),
		serving({"name": "c", "image": "c:1"}),
	]), default_parameters)
	{d.details.container | some d in v} == {"a", "c"}
}

test_probe_without_handler_is_reported if {
	c := serving({"name": "app", "image": "app:1", "readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 10}})
	v := readiness_probe.violation with input as testing.review(deployment([c]), default_parameters)
	v == {{
		"msg": `container "app" has a readinessProbe with no handler (one of httpGet, tcpSocket, exec, grpc)`,
		"details": {
			"container": "app",
			"probe": "readinessProbe",
			"probe_types": ["httpGet", "tcpSocket", "exec", "grpc"],
			"case": "no_handler",
			"path": "spec.template.spec.containers[0].readinessProbe",
		},
	}}
}

test_null_probe_counts_as_missing if {
	# `readinessProbe:` with everything below it commented out parses as null.
	v := readiness_probe.violation with input as testing.review(deployment([serving({"name": "app", "image": "app:1", "readinessProbe": null})]), default_parameters)
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[0].readinessProbe"},
	}}
}

test_every_listed_probe_is_required if {
	v := readiness_probe.violation with input as both_probes(deployment([
		serving({"name": "a", "image": "a:1", "readinessProbe": tcp}),
		serving({"name": "b", "image": "b:1", "livenessProbe": tcp}),
		serving({"name": "c", "image": "c:1", "readinessProbe": tcp, "livenessProbe": tcp}),
	]))
	v == {
		{"msg": `container "a" has no livenessProbe`, "details": {"container": "a", "probe": "livenessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[0].livenessProbe"}},
		{"msg": `container "b" has no readinessProbe`, "details": {"container": "b", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[1].readinessProbe"}},
	}
}

test_handler_must_be_one_of_probe_types if {
	grpc := {"grpc": {"port": 9090}}
	v := readiness_probe.violation with input as both_probes(deployment([serving({"name": "app", "image": "app:1", "readinessProbe": grpc, "livenessProbe": tcp})]))
	v == {{
		"msg": `container "app" has a readinessProbe with no handler (one of tcpSocket, httpGet, exec)`,
		"details": {
			"container": "app",
			"probe": "readinessProbe",
			"probe_types": ["tcpSocket", "httpGet", "exec"],
			"case": "no_handler",
			"path": "spec.template.spec.containers[0].readinessProbe",
		},
	}}

	# With the default probe types a gRPC probe is a handler.
	count(readiness_probe.violation) == 0 with input as testing.review(deployment([serving({"name": "app", "image": "app:1", "readinessProbe": grpc})]), default_parameters)
}

test_exempt_images_skip_every_probe if {
	inp := object.union(both_probes(deployment([serving({"name": "proxy", "image": "istio/proxyv2:1.20", "readinessProbe": {}})])), {"parameters": {"exempt_images": ["istio/"]}})
	count(readiness_probe.violation) == 0 with input as inp
}

test_malformed_parameters_fall_back_to_defaults if {
	inp := object.union(testing.review(deployment([serving({"name": "app", "image": "app:1"})]), default_parameters), {"parameters": {"probes": "livenessProbe", "probe_types": null, "exempt_images": "app", "serving": 3}})
	v := readiness_probe.violation with input as inp
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[0].readinessProbe"},
	}}
}

service(svc_name, selector, ports) := {
	"apiVersion": "v1",
	"kind": "Service",
	"metadata": {"name": svc_name, "namespace": "shop"},
	"spec": {"selector": selector, "ports": ports},
}

labelled(obj) := json.patch(obj, [{"op": "add", "path": "/spec/template/metadata", "value": {"labels": {"app": "web"}}}])

worker := {"name": "worker", "image": "worker:1"}

test_container_without_ports_that_nothing_routes_to_is_not_judged if {
	# A queue worker: no port, and no Service of the namespace selects its pods.
	count(readiness_probe.violation) == 0 with input as testing.review_in("shop", labelled(deployment([worker])), default_parameters)
		with data.inventory as testing.inventory([service("api", {"app": "api"}, [{"port": 80, "targetPort": 8080}])])
}

test_container_a_service_routes_to_by_undeclared_number_is_judged if {
	# The Service targets 8080, which no container declares: the port-less container is the listener.
	inv := testing.inventory([service("web", {"app": "web"}, [{"port": 80, "targetPort": 8080}])])
	v := readiness_probe.violation with input as testing.review_in("shop", labelled(deployment([worker])), default_parameters)
		with data.inventory as inv
	v == {{
		"msg": `container "worker" has no readinessProbe`,
		"details": {"container": "worker", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[0].readinessProbe"},
	}}

	# No targetPort: the Service's port is the target.
	w := readiness_probe.violation with input as testing.review_in("shop", labelled(deployment([worker])), default_parameters)
		with data.inventory as testing.inventory([service("web", {"app": "web"}, [{"port": 8080}])])
	{x.details.container | some x in w} == {"worker"}
}

test_sidecar_beside_the_targeted_container_is_not_judged if {
	# The Service targets the port "http" that the app declares: the log shipper beside it gets no traffic.
	app := serving({"name": "app", "image": "app:1", "readinessProbe": tcp})
	shipper := {"name": "logs", "image": "fluent-bit:3"}
	inv := testing.inventory([service("web", {"app": "web"}, [{"port": 80, "targetPort": "http"}])])
	count(readiness_probe.violation) == 0 with input as testing.review_in("shop", labelled(deployment([app, shipper])), default_parameters)
		with data.inventory as inv

	# Targeted by a number the app declares, likewise.
	by_number := testing.inventory([service("web", {"app": "web"}, [{"port": 80, "targetPort": 8080}])])
	count(readiness_probe.violation) == 0 with input as testing.review_in("shop", labelled(deployment([app, shipper])), default_parameters)
		with data.inventory as by_number
}

test_headless_service_without_ports_makes_every_container_serving if {
	inv := testing.inventory([service("web", {"app": "web"}, [])])
	v := readiness_probe.violation with input as testing.review_in("shop", labelled(deployment([worker])), default_parameters)
		with data.inventory as inv
	{x.details | some x in v} == {{"container": "worker", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[0].readinessProbe"}}
}

test_bare_pod_is_judged_only_when_a_service_selects_it if {
	pod := {
		"apiVersion": "v1",
		"kind": "Pod",
		"metadata": {"name": "debug", "namespace": "shop", "labels": {"app": "web"}},
		"spec": {"containers": [serving({"name": "app", "image": "app:1"})]},
	}

	# Nothing selects it: its declared port alone does not make it serving.
	count(readiness_probe.violation) == 0 with input as testing.review_in("shop", pod, default_parameters)
		with data.inventory as testing.inventory([])

	inv := testing.inventory([service("web", {"app": "web"}, [{"port": 80, "targetPort": "http"}])])
	v := readiness_probe.violation with input as testing.review_in("shop", pod, default_parameters)
		with data.inventory as inv
	v == {{
		"msg": `container "app" has no readinessProbe`,
		"details": {"container": "app", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.containers[0].readinessProbe"},
	}}
}

test_serving_all_judges_every_container if {
	inp := object.union(testing.review(deployment([worker]), default_parameters), {"parameters": {"serving": "all"}})
	v := readiness_probe.violation with input as inp
	v == {{
		"msg": `container "worker" has no readinessProbe`,
		"details": {"container": "worker", "probe": "readinessProbe", "case": "missing_probe", "path": "spec.template.spec.containers[0].readinessProbe"},
	}}

	pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "one"}, "spec": {"containers": [worker]}}
	pod_inp := object.union(testing.review(pod, default_parameters), {"parameters": {"serving": "all"}})
	{x.details.container | some x in readiness_probe.violation} == {"worker"} with input as pod_inp
}
