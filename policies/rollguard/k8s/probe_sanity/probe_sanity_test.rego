package rollguard.k8s.probe_sanity_test

import data.rollguard.k8s.probe_sanity
import data.rollguard.lib.testing

deployment(containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": containers}}},
}

parameters := {"min_liveness_grace": 30}

ready := {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5}

live := {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 20}

container(extra) := object.union(
	{"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080}]},
	extra,
)

test_sane_probes_pass if {
	count(probe_sanity.violation) == 0 with input as testing.review(deployment([container({"readinessProbe": ready, "livenessProbe": live})]), parameters)
}

test_identical_probes_are_reported if {
	probe := {"httpGet": {"path": "/ready", "port": "http"}, "initialDelaySeconds": 15}
	v := probe_sanity.violation with input as testing.review(deployment([container({"readinessProbe": probe, "livenessProbe": probe})]), parameters)
	v == {{
		"msg": `container "app" has a livenessProbe identical to its readinessProbe: a pod that is only busy gets restarted instead of taken out of the Service`,
		"details": {"container": "app", "handler": "httpGet", "case": "identical_probes", "path": "spec.template.spec.containers[0].livenessProbe"},
	}}
}

test_identical_after_defaults_is_reported if {
	readiness := {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10}
	liveness := {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3}
	v := probe_sanity.violation with input as testing.review(deployment([container({"readinessProbe": readiness, "livenessProbe": liveness})]), parameters)
	{x.details | some x in v} == {{"container": "app", "handler": "tcpSocket", "case": "identical_probes", "path": "spec.template.spec.containers[0].livenessProbe"}}
}

test_same_handler_different_timing_passes if {
	readiness := {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 20}
	liveness := {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 20, "failureThreshold": 6}
	count(probe_sanity.violation) == 0 with input as testing.review(deployment([container({"readinessProbe": readiness, "livenessProbe": liveness})]), parameters)
}

test_short_liveness_grace_without_startup_probe_is_reported if {
	liveness := {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
	v := probe_sanity.violation with input as testing.review(deployment([container({"readinessProbe": ready, "livenessProbe": liveness})]), parameters)
	v == {{
		"msg": `container "app" has a livenessProbe that restarts it if it is not up 15s after starting (initialDelaySeconds 0 + failureThreshold 3 x periodSeconds 5) and no startupProbe: a start slower than that is killed before it is ready (minimum 30s)`,
		"details": {
			"container": "app",
			"initial_delay_seconds": 0,
			"failure_threshold": 3,
			"period_seconds": 5,
			"grace_seconds": 15,
			"min_liveness_grace": 30,
			"case": "short_liveness_grace",
			"path": "spec.template.spec.containers[0].livenessProbe",
		},
	}}

	# A delay used to pass by itself; with one failure every second it is still a 11s grace.
	hasty := {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 10, "failureThreshold": 1, "periodSeconds": 1}
	w := probe_sanity.violation with input as testing.review(deployment([container({"readinessProbe": ready, "livenessProbe": hasty})]), parameters)
	{x.details.grace_seconds | some x in w} == {11}
}

test_zero_delay_with_enough_failures_passes if {
	# Kubernetes' defaults: 0 + 3 x 10 = 30 seconds to start.
	defaults := {"httpGet": {"path": "/healthz", "port": "http"}}
	count(probe_sanity.violation) == 0 with input as testing.review(deployment([container({"readinessProbe": ready, "livenessProbe": defaults})]), parameters)

	patient := {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 0, "failureThreshold": 6, "periodSeconds": 5}
	count(probe_sanity.violation) == 0 with input as testing.review(deployment([container({"readinessProbe": ready, "livenessProbe": patient})]), parameters)
}

test_startup_probe_covers_short_liveness_grace if {
	liveness := {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 0, "failureThreshold": 1, "periodSeconds": 1}
	startup := {"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 30}
	c := container({"readinessProbe": ready, "livenessProbe": liveness, "startupProbe": startup})
	count(probe_sanity.violation) == 0 with input as testing.review(deployment([c]), parameters)
}

test_min_liveness_grace_parameter if {
	liveness := {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 20}
	inp := object.union(testing.review(deployment([container({"readinessProbe": ready, "livenessProbe": liveness})]), parameters), {"parameters": {"min_liveness_grace": 60}})
	v := probe_sanity.violation with input as inp
	{x.details | some x in v} == {{
		"container": "app",
		"initial_delay_seconds": 20,
		"failure_threshold": 3,
		"period_seconds": 10,
		"grace_seconds": 50,
		"min_liveness_grace": 60,
		"case": "short_liveness_grace",
		"path": "spec.template.spec.containers[0].livenessProbe",
	}}
}

test_undeclared_named_port_is_reported if {
	readiness := {"httpGet": {"path": "/ready", "port": "health"}}
	v := probe_sanity.violation with input as testing.review(deployment([container({"readinessProbe": readiness, "livenessProbe": live})]), parameters)
	v == {{
		"msg": `readinessProbe of container "app" uses port "health", which the container does not declare`,
		"details": {
			"container": "app",
			"probe": "readinessProbe",
			"handler": "httpGet",
			"port": "health",
			"declared_names": ["http"],
			"declared_numbers": [8080],
			"case": "undeclared_port_name",
			"path": "spec.template.spec.containers[0].readinessProbe.httpGet.port",
		},
	}}
}

test_undeclared_numeric_port_is_reported if {
	startup := {"tcpSocket": {"port": 9090}, "failureThreshold": 30}
	c := container({"readinessProbe": ready, "livenessProbe": live, "startupProbe": startup})
	v := probe_sanity.violation with input as testing.review(deployment([c]), parameters)
	v == {{
		"msg": `startupProbe of container "app" uses port 9090, which the container does not declare: the probe works, but the ports list does not say the container listens there`,
		"details": {
			"container": "app",
			"probe": "startupProbe",
			"handler": "tcpSocket",
			"port": 9090,
			"declared_names": ["http"],
			"declared_numbers": [8080],
			"case": "undeclared_port_number",
			"path": "spec.template.spec.containers[0].startupProbe.tcpSocket.port",
		},
	}}
}

test_declared_numeric_and_grpc_ports_pass if {
	c := {
		"name": "app",
		"image": "app:1",
		"ports": [{"containerPort": 8080}, {"name": "grpc", "containerPort": 9000}],
		"readinessProbe": {"grpc": {"port": 9000}},
		"livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 10},
	}
	count(probe_sanity.violation) == 0 with input as testing.review(deployment([c]), parameters)
}

test_container_without_ports_is_reported_for_each_probe if {
	c := {
		"name": "app",
		"image": "app:1",
		"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
		"livenessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 30},
	}
	v := probe_sanity.violation with input as testing.review(deployment([c]), parameters)
	{x.details.probe | some x in v} == {"readinessProbe"}
	{x.details.declared_numbers | some x in v} == {[]}
}

test_sidecar_init_containers_are_judged if {
	obj := json.patch(deployment([container({"readinessProbe": ready, "livenessProbe": live})]), [{
		"op": "add",
		"path": "/spec/template/spec/initContainers",
		"value": [
			{"name": "proxy", "image": "proxy:1", "restartPolicy": "Always", "livenessProbe": {"tcpSocket": {"port": 15000}, "initialDelaySeconds": 10}},
			{"name": "migrate", "image": "migrate:1", "livenessProbe": {"tcpSocket": {"port": 1}}},
		],
	}])
	v := probe_sanity.violation with input as testing.review(obj, parameters)
	{[x.details.container, x.details.port, x.details.path] | some x in v} == {["proxy", 15000, "spec.template.spec.initContainers[0].livenessProbe.tcpSocket.port"]}
}

test_cronjob_and_pod_are_judged if {
	c := {"name": "app", "image": "app:1", "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5, "failureThreshold": 1}}
	cron := {"kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [c]}}}}}}
	v := probe_sanity.violation with input as testing.review(cron, parameters)
	{x.details.grace_seconds | some x in v} == {5}
	{x.details.path | some x in v} == {"spec.jobTemplate.spec.template.spec.containers[0].livenessProbe"}

	pod := {"kind": "Pod", "metadata": {"name": "one"}, "spec": {"containers": [c]}}
	w := probe_sanity.violation with input as testing.review(pod, parameters)
	{x.details.path | some x in w} == {"spec.containers[0].livenessProbe"}
}

test_malformed_fields_raise_no_error if {
	# ports given as a string: nothing is declared, so the named port is reported;
	# a string initialDelaySeconds is not judged.
	a := probe_sanity.violation with input as testing.review(deployment([{"name": "app", "ports": "http", "livenessProbe": {"httpGet": {"port": "http"}, "initialDelaySeconds": "20"}}]), parameters)
	{x.details.probe | some x in a} == {"livenessProbe"}

	b := probe_sanity.violation with input as testing.review(deployment([{"name": "app", "ports": [null, 8080], "readinessProbe": {"tcpSocket": {"port": null}}}]), parameters)
	count(b) == 0

	c := probe_sanity.violation with input as testing.review(deployment([{"name": "app", "livenessProbe": "yes", "readinessProbe": "yes"}]), parameters)
	count(c) == 0

	# Probes without a handler are not "identical"; the liveness grace is still judged.
	d := probe_sanity.violation with input as testing.review(deployment([{"name": "app", "livenessProbe": {"periodSeconds": 2}, "readinessProbe": {}, "startupProbe": true}]), parameters)
	{x.details.grace_seconds | some x in d} == {6}
	count(d) == 1

	# Timings that are not numbers are not judged.
	e := probe_sanity.violation with input as testing.review(deployment([{"name": "app", "livenessProbe": {"exec": {}, "periodSeconds": "1", "failureThreshold": 1}}]), parameters)
	count(e) == 0

	every spec in [{"containers": null}, {"containers": "app"}, {"containers": [], "initContainers": "x"}] {
		count(probe_sanity.violation) == 0 with input as testing.review({"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}, parameters)
	}
}

test_probe_on_a_udp_port_by_name_is_reported if {
	c := container({"ports": [{"name": "http", "containerPort": 8080, "protocol": "UDP"}], "readinessProbe": ready, "livenessProbe": live})
	v := probe_sanity.violation with input as testing.review(deployment([c]), parameters)
	v == {
		{
			"msg": `readinessProbe of container "app" uses port "http", which the container declares with protocol UDP: the probe connects over TCP and fails`,
			"details": {
				"container": "app",
				"probe": "readinessProbe",
				"handler": "httpGet",
				"port": "http",
				"protocols": ["UDP"],
				"case": "non_tcp_port",
				"path": "spec.template.spec.containers[0].readinessProbe.httpGet.port",
			},
		},
		{
			"msg": `livenessProbe of container "app" uses port "http", which the container declares with protocol UDP: the probe connects over TCP and fails`,
			"details": {
				"container": "app",
				"probe": "livenessProbe",
				"handler": "httpGet",
				"port": "http",
				"protocols": ["UDP"],
				"case": "non_tcp_port",
				"path": "spec.template.spec.containers[0].livenessProbe.httpGet.port",
			},
		},
	}
}

test_probe_on_a_udp_port_by_number_is_reported if {
	c := container({
		"ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "grpc", "containerPort": 9090, "protocol": "SCTP"}],
		"readinessProbe": {"tcpSocket": {"port": 53}},
		"startupProbe": {"grpc": {"port": 9090}},
	})
	v := probe_sanity.violation with input as testing.review(deployment([c]), parameters)
	v == {
		{
			"msg": `readinessProbe of container "app" uses port 53, which the container declares with protocol UDP: the probe connects over TCP and fails`,
			"details": {
				"container": "app",
				"probe": "readinessProbe",
				"handler": "tcpSocket",
				"port": 53,
				"protocols": ["UDP"],
				"case": "non_tcp_port",
				"path": "spec.template.spec.containers[0].readinessProbe.tcpSocket.port",
			},
		},
		{
			"msg": `startupProbe of container "app" uses port 9090, which the container declares with protocol SCTP: the probe connects over TCP and fails`,
			"details": {
				"container": "app",
				"probe": "startupProbe",
				"handler": "grpc",
				"port": 9090,
				"protocols": ["SCTP"],
				"case": "non_tcp_port",
				"path": "spec.template.spec.containers[0].startupProbe.grpc.port",
			},
		},
	}
}

test_port_declared_for_tcp_too_passes if {
	# DNS servers declare 53 twice; the TCP declaration is what the probe reaches.
	both := container({
		"ports": [{"name": "dns-udp", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}],
		"readinessProbe": {"tcpSocket": {"port": 53}},
	})
	count(probe_sanity.violation) == 0 with input as testing.review(deployment([both]), parameters)

	# An unset or null protocol is TCP.
	unset := container({"ports": [{"name": "http", "containerPort": 8080, "protocol": null}], "readinessProbe": ready, "livenessProbe": live})
	count(probe_sanity.violation) == 0 with input as testing.review(deployment([unset]), parameters)
}

test_null_timing_fields_take_their_defaults if {
	# A null periodSeconds is Kubernetes' 10: 0 + 1 x 10 = 10s of grace.
	liveness := {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": null, "failureThreshold": 1}
	v := probe_sanity.violation with input as testing.review(deployment([container({"readinessProbe": ready, "livenessProbe": liveness})]), parameters)
	{[x.details.case, x.details.period_seconds, x.details.grace_seconds] | some x in v} == {["short_liveness_grace", 10, 10]}

	# Equal to the readinessProbe once the null is read as the default.
	readiness := {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 40}
	same := {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 40, "timeoutSeconds": null}
	w := probe_sanity.violation with input as testing.review(deployment([container({"readinessProbe": readiness, "livenessProbe": same})]), parameters)
	{x.details.case | some x in w} == {"identical_probes"}
}

test_null_startup_probe_does_not_cover_the_liveness_grace if {
	liveness := {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
	v := probe_sanity.violation with input as testing.review(deployment([container({"readinessProbe": ready, "livenessProbe": liveness, "startupProbe": null})]), parameters)
	{x.details.grace_seconds | some x in v} == {15}
}
