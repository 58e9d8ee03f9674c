# METADATA
# title: Pods behind a Service shut down gracefully
# description: >-
#   When a rollout deletes a pod, the kubelet sends SIGTERM while kube-proxy,
#   ingress controllers and load balancers are still removing the pod from the
#   Service's endpoints, so requests keep arriving at a process that is
#   stopping. A preStop hook (usually a short sleep) delays SIGTERM until the
#   endpoint is gone; the termination grace period must then cover that sleep
#   plus the time to drain in-flight requests, or the kubelet kills the pod
#   mid-request. Reported, for serving containers (`serving` ports_or_service,
#   the default: a container that declares a port, except in a bare Pod, or one
#   a Service sends traffic to by the port name or number its targetPort names,
#   a port-less container counting when that number is declared by no
#   container): a serving container without a preStop hook in a pod selected
#   by a Service of the same namespace (from the change or the cluster); and a
#   terminationGracePeriodSeconds (default 30) shorter than a serving
#   container's preStop sleep (`sleep N` as an exec command, directly or in
#   `sh -c`, or lifecycle.preStop.sleep.seconds) plus drain_seconds. Left
#   alone: pods no Service selects (nothing removes them from endpoints, so
#   there is no race to wait out), containers beside the serving one that
#   declare no port and receive no Service traffic (log shippers, queue
#   consumers), and their preStop sleeps, which drain no requests. `serving:
#   all` judges every container. Covers Pods, Deployments, StatefulSets,
#   DaemonSets, ReplicaSets, ReplicationControllers, Argo Rollouts and
#   DeploymentConfigs. Medium severity: the loss is the requests in flight
#   during each pod's termination, not an outage.
# scope: package
# custom:
#   id: k8s.graceful_shutdown
#   severity: medium
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Give every serving container a preStop hook that waits for endpoint
#     removal, for example `lifecycle.preStop.sleep.seconds: 10` (Kubernetes
#     1.30+) or `exec: {command: ["sleep", "10"]}`, and set
#     terminationGracePeriodSeconds to at least that sleep plus drain_seconds.
#   case_remediation:
#     no_prestop: >-
#       Give container {{ container }} a preStop hook that waits until the
#       pod is out of the endpoints of the Services selecting it
#       ({{ services }}), for example `lifecycle.preStop.sleep.seconds: 10`
#       (Kubernetes 1.30+) or `exec: {command: ["sleep", "10"]}`, and keep
#       terminationGracePeriodSeconds at least that sleep plus
#       {{ drain_seconds }}s to drain.
#     short_grace_period: >-
#       Set terminationGracePeriodSeconds (now
#       {{ termination_grace_period_seconds }}) to at least
#       {{ required_seconds }}: the {{ prestop_sleep_seconds }}s preStop sleep of
#       container {{ container }} plus {{ drain_seconds }}s to drain. Or shorten
#       that sleep, if the endpoints drop the pod sooner.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Rollout, DeploymentConfig]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Service]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       drain_seconds:
#         type: integer
#         minimum: 0
#         default: 15
#         description: Seconds a container needs after SIGTERM to finish in-flight requests.
#       serving:
#         type: string
#         enum: [ports_or_service, all]
#         default: ports_or_service
#         description: >-
#           Which containers are judged: ports_or_service (those that declare a
#           port, in a workload other than a bare Pod, or that a Service selecting
#           the pod routes to) or all (every container).
#   example_allowed: |
#     terminationGracePeriodSeconds: 45
#     containers:
#     - name: web
#       ports: [{name: http, containerPort: 8080}]
#       lifecycle:
#         preStop:
#           exec: {command: ["sleep", "10"]}
#   example_disallowed: |
#     terminationGracePeriodSeconds: 20
#     containers:
#     - name: web
#       ports: [{name: http, containerPort: 8080}]
#       lifecycle:
#         preStop:
#           exec: {command: ["sleep", "10"]}
package rollguard.k8s.graceful_shutdown

import data.rollguard.lib.k8s

# Every container is looked at first and only one that breaks a rule is asked whether it is
# judged (serving), so a compliant pod never needs its Services looked up.
violation contains {"msg": msg, "details": details} if {
	some c in k8s.obj_containers
	not is_object(object.get(c, ["lifecycle", "preStop"], null))
	c in judged_containers
	count(services) > 0
	details := {
		"container": c.name,
		"services": service_names,
		"drain_seconds": drain_seconds,
		"case": "no_prestop",
		"path": k8s.container_field_path(c, "lifecycle.preStop"),
	}
	msg := sprintf(
		"container %q has no preStop hook but its pod is an endpoint of %s: it gets SIGTERM while still receiving traffic",
		[c.name, services_text],
	)
}

violation contains {"msg": msg, "details": details} if {
	some c in k8s.obj_containers
	sleep_seconds := prestop_sleep(c)
	required := sleep_seconds + drain_seconds
	grace_period < required
	c in judged_containers
	details := {
		"container": c.name,
		"termination_grace_period_seconds": grace_period,
		"prestop_sleep_seconds": sleep_seconds,
		"drain_seconds": drain_seconds,
		"required_seconds": required,
		"case": "short_grace_period",
		"path": sprintf("%s.terminationGracePeriodSeconds", [k8s.obj_pod_spec_path]),
	}
	msg := sprintf(
		"terminationGracePeriodSeconds is %v, shorter than the %vs preStop sleep of container %q plus %vs to drain (%vs): the pod is killed mid-request",
		[grace_period, sleep_seconds, c.name, drain_seconds, required],
	)
}

drain_seconds := n if {
	n := input.parameters.drain_seconds
	is_number(n)
} else := 15

# The containers judged (`serving`); none when the pod spec has no container list.
judged_containers := k8s.obj_containers if {
	input.parameters.serving == "all"
} else := k8s.obj_serving_containers

# The Services of the namespace whose selector picks the pods (selector_candidates of
# "Service"), and their names.
services := k8s.obj_services

service_names := [svc.metadata.name | some svc in services]

services_text := sprintf("Service %q", [service_names[0]]) if {
	count(service_names) == 1
} else := sprintf("Services %s", [concat(", ", [sprintf("%q", [s]) | some s in service_names])])

grace_period := n if {
	n := k8s.obj_pod_spec.terminationGracePeriodSeconds
	is_number(n)
} else := 30 if {
	not has_grace_period
}

has_grace_period if k8s.obj_pod_spec.terminationGracePeriodSeconds != null

# Seconds the preStop hook sleeps, when it is a recognisable sleep.
prestop_sleep(c) := n if {
	n := c.lifecycle.preStop.sleep.seconds
	is_number(n)
} else := to_number(seconds) if {
	# The usual form, `sleep N`, spared the function calls of the next.
	["sleep", seconds] = c.lifecycle.preStop.exec.command
	is_string(seconds)
	regex.match(`^[0-9]+$`, seconds)
} else := n if {
	command := c.lifecycle.preStop.exec.command
	command[0] == "sleep"
	count(command) >= 2
	n := duration_seconds(command[1])
} else := n if {
	command := c.lifecycle.preStop.exec.command
	is_array(command)
	count(command) >= 2
	is_string(command[0])
	regex.match(`^(.*/)?sleep$`, command[0])
	n := duration_seconds(command[1])
} else := n if {
	command := c.lifecycle.preStop.exec.command
	is_array(command)
	count(command) >= 3
	is_string(command[0])
	regex.match(`^(.*/)?(sh|bash|ash|dash|zsh)$`, command[0])
	is_string(command[1])
	regex.match(`^-[a-z]*c$`, command[1])
	is_string(command[2])
	matches := regex.find_all_string_submatch_n(`(?:^|[;&|(\s])sleep\s+([0-9]+[smh]?)(?:$|[;&|)\s])`, command[2], -1)
	count(matches) > 0
	n := sum([duration_seconds(m[1]) | some m in matches])
}

# `sleep` arguments: plain seconds or a number with an s, m or h suffix.
duration_seconds(arg) := to_number(arg) if {
	is_string(arg)
	regex.match(`^[0-9]+$`, arg)
} else := to_number(trim_suffix(arg, "s")) if {
	is_string(arg)
	regex.match(`^[0-9]+s$`, arg)
} else := to_number(trim_suffix(arg, "m")) * 60 if {
	is_string(arg)
	regex.match(`^[0-9]+m$`, arg)
} else := to_number(trim_suffix(arg, "h")) * 3600 if {
	is_string(arg)
	regex.match(`^[0-9]+h$`, arg)
}
