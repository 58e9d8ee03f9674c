package rollguard.k8s.graceful_shutdown_test

import data.rollguard.k8s.graceful_shutdown
import data.rollguard.lib.testing

deployment(pod_spec) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {
		"replicas": 3,
		"template": {
			"metadata": {"labels": {"app": "web", "tier": "front"}},
			"spec": pod_spec,
		},
	},
}

parameters := {"drain_seconds": 15}

service(svc_name, selector) := {
	"apiVersion": "v1",
	"kind": "Service",
	"metadata": {"name": svc_name, "namespace": "shop"},
	"spec": {"selector": selector, "ports": [{"port": 80, "targetPort": "http"}]},
}

web_service := testing.inventory([service("web", {"app": "web"})])

serving(extra) := object.union({"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080}]}, extra)

sleep_hook(command) := {"lifecycle": {"preStop": {"exec": {"command": command}}}}

test_served_container_without_prestop_is_reported if {
	v := graceful_shutdown.violation with input as testing.review_in("shop", deployment({"containers": [serving({})]}), parameters)
		with data.inventory as web_service
	v == {{
		"msg": `container "app" has no preStop hook but its pod is an endpoint of Service "web": it gets SIGTERM while still receiving traffic`,
		"details": {
			"container": "app",
			"services": ["web"],
			"drain_seconds": 15,
			"case": "no_prestop",
			"path": "spec.template.spec.containers[0].lifecycle.preStop",
		},
	}}
}

test_every_selecting_service_is_named if {
	inv := testing.inventory([service("web", {"app": "web"}), service("front", {"tier": "front"}), service("api", {"app": "api"})])
	v := graceful_shutdown.violation with input as testing.review_in("shop", deployment({"containers": [serving({})]}), parameters)
		with data.inventory as inv
	{x.msg | some x in v} == {`container "app" has no preStop hook but its pod is an endpoint of Services "front", "web": it gets SIGTERM while still receiving traffic`}
	{x.details.services | some x in v} == {["front", "web"]}
}

test_prestop_sleep_within_grace_period_passes if {
	spec := {"terminationGracePeriodSeconds": 45, "containers": [serving(sleep_hook(["sleep", "10"]))]}
	count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment(spec), parameters)
		with data.inventory as web_service
}

test_unserved_or_portless_containers_need_no_prestop if {
	count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment({"containers": [serving({})]}), parameters)
		with data.inventory as testing.inventory([service("api", {"app": "api"})])

	worker := {"name": "worker", "image": "worker:1"}
	count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment({"containers": [worker]}), parameters)
		with data.inventory as web_service

	# A Service in another namespace, or one without a selector, selects nothing here.
	other := {"namespace": {"other": {"v1": {"Service": {"web": service("web", {"app": "web"})}}}}}
	count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment({"containers": [serving({})]}), parameters)
		with data.inventory as other
	headless := {"namespace": {"shop": {"v1": {"Service": {"ext": {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName"}}}}}}}
	count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment({"containers": [serving({})]}), parameters)
		with data.inventory as headless
}

test_short_grace_period_is_reported if {
	spec := {"terminationGracePeriodSeconds": 20, "containers": [serving(sleep_hook(["sleep", "10"]))]}
	v := graceful_shutdown.violation with input as testing.review_in("shop", deployment(spec), parameters)
		with data.inventory as web_service
	v == {{
		"msg": `terminationGracePeriodSeconds is 20, shorter than the 10s preStop sleep of container "app" plus 15s to drain (25s): the pod is killed mid-request`,
		"details": {
			"container": "app",
			"termination_grace_period_seconds": 20,
			"prestop_sleep_seconds": 10,
			"drain_seconds": 15,
			"required_seconds": 25,
			"case": "short_grace_period",
			"path": "spec.template.spec.terminationGracePeriodSeconds",
		},
	}}
}

test_default_grace_period_is_30 if {
	v := graceful_shutdown.violation with input as testing.review_in("shop", deployment({"containers": [serving(sleep_hook(["/bin/sleep", "20"]))]}), parameters)
	{x.details.termination_grace_period_seconds | some x in v} == {30}
	{x.details.required_seconds | some x in v} == {35}

	count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment({"containers": [serving(sleep_hook(["sleep", "15"]))]}), parameters)
}

test_sleep_action_and_shell_sleeps_are_recognised if {
	sleep_action := {"lifecycle": {"preStop": {"sleep": {"seconds": 20}}}}
	shell := sleep_hook(["/bin/sh", "-c", "sleep 5 && nginx -s quit; sleep 1m"])
	suffixed := sleep_hook(["sleep", "10s"])
	spec := {"terminationGracePeriodSeconds": 20, "containers": [
		serving(object.union(sleep_action, {"name": "a"})),
		serving(object.union(shell, {"name": "b"})),
		serving(object.union(suffixed, {"name": "c"})),
	]}
	v := graceful_shutdown.violation with input as testing.review_in("shop", deployment(spec), parameters)
	{[x.details.container, x.details.prestop_sleep_seconds] | some x in v} == {["a", 20], ["b", 65], ["c", 10]}
}

test_drain_seconds_parameter if {
	spec := {"terminationGracePeriodSeconds": 45, "containers": [serving(sleep_hook(["sleep", "10"]))]}
	inp := object.union(testing.review_in("shop", deployment(spec), parameters), {"parameters": {"drain_seconds": 40}})
	v := graceful_shutdown.violation with input as inp
	{x.details.required_seconds | some x in v} == {50}
}

test_bare_pod_is_judged if {
	pod := {
		"apiVersion": "v1",
		"kind": "Pod",
		"metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
		"spec": {"containers": [serving({})]},
	}
	v := graceful_shutdown.violation with input as testing.review_in("shop", pod, parameters) with data.inventory as web_service
	{x.details | some x in v} == {{"container": "app", "services": ["web"], "drain_seconds": 15, "case": "no_prestop", "path": "spec.containers[0].lifecycle.preStop"}}
}

test_unrecognised_or_malformed_hooks_raise_no_error if {
	every hook in [
		{"lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": "http"}}}},
		sleep_hook(["sleep", "infinity"]),
		sleep_hook(["sleep"]),
		sleep_hook("sleep 10"),
		sleep_hook([10, "sleep"]),
		sleep_hook(["sh", "-c", "nosleep 100"]),
		{"lifecycle": {"preStop": {"sleep": {"seconds": "100"}}}},
	] {
		spec := {"terminationGracePeriodSeconds": 1, "containers": [serving(hook)]}
		count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment(spec), parameters) with data.inventory as web_service
	}
	every spec in [
		{"containers": null},
		{"containers": [serving({"ports": "http"})]},
		{"terminationGracePeriodSeconds": "5", "containers": [serving(sleep_hook(["sleep", "100"]))]},
	] {
		count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment(spec), parameters) with data.inventory as web_service
	}
}

shipper(extra) := object.union({"name": "logs", "image": "fluent-bit:3"}, extra)

test_portless_container_a_service_targets_by_number_is_judged if {
	# The Service targets 8080, which no container declares: the container without ports listens there.
	inv := testing.inventory([object.union(service("web", {"app": "web"}), {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}})])
	v := graceful_shutdown.violation with input as testing.review_in("shop", deployment({"containers": [{"name": "app", "image": "app:1"}]}), parameters)
		with data.inventory as inv
	v == {{
		"msg": `container "app" has no preStop hook but its pod is an endpoint of Service "web": it gets SIGTERM while still receiving traffic`,
		"details": {
			"container": "app",
			"services": ["web"],
			"drain_seconds": 15,
			"case": "no_prestop",
			"path": "spec.template.spec.containers[0].lifecycle.preStop",
		},
	}}
}

test_container_beside_the_serving_one_is_not_judged if {
	# The Service targets "http" on the app; the log shipper without ports gets no traffic,
	# and its long preStop sleep drains no requests.
	spec := {"terminationGracePeriodSeconds": 45, "containers": [
		serving(sleep_hook(["sleep", "10"])),
		shipper(sleep_hook(["sleep", "40"])),
		shipper({"name": "agent"}),
	]}
	count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment(spec), parameters)
		with data.inventory as web_service
}

test_worker_sleep_is_not_judged_without_serving if {
	worker := {"name": "worker", "image": "worker:1", "lifecycle": {"preStop": {"exec": {"command": ["sleep", "30"]}}}}
	count(graceful_shutdown.violation) == 0 with input as testing.review_in("shop", deployment({"containers": [worker]}), parameters)
		with data.inventory as testing.inventory([])
}

test_serving_all_judges_every_container if {
	spec := {"containers": [serving(sleep_hook(["sleep", "5"])), shipper(sleep_hook(["sleep", "20"])), shipper({"name": "agent"})]}
	inp := object.union(testing.review_in("shop", deployment(spec), parameters), {"parameters": {"serving": "all"}})
	v := graceful_shutdown.violation with input as inp with data.inventory as web_service
	v == {
		{
			"msg": `container "agent" has no preStop hook but its pod is an endpoint of Service "web": it gets SIGTERM while still receiving traffic`,
			"details": {
				"container": "agent",
				"services": ["web"],
				"drain_seconds": 15,
				"case": "no_prestop",
				"path": "spec.template.spec.containers[2].lifecycle.preStop",
			},
		},
		{
			"msg": `terminationGracePeriodSeconds is 30, shorter than the 20s preStop sleep of container "logs" plus 15s to drain (35s): the pod is killed mid-request`,
			"details": {
				"container": "logs",
				"termination_grace_period_seconds": 30,
				"prestop_sleep_seconds": 20,
				"drain_seconds": 15,
				"required_seconds": 35,
				"case": "short_grace_period",
				"path": "spec.template.spec.terminationGracePeriodSeconds",
			},
		},
	}
}
