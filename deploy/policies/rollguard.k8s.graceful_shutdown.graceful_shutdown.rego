# METADATA
# title: Pods behind a Service shut down gracefully
# description: >-
#   When a rollout deletes a pod, the kubelet sends SIGTERM while kube-proxy,
#   ingress controllers and load balancers are still removing the pod from the
#   Service's endpoints, so requests keep arriving at a process that is
#   stopping. A preStop hook (usually a short sleep) delays SIGTERM until the
#   endpoint is gone; the termination grace period must then cover that sleep
#   plus the time to drain in-flight requests, or the kubelet kills the pod
#   mid-request. Reported: a container with ports, in a pod selected by a
#   Service of the same namespace (from the change or the cluster), without a
#   preStop hook; and a terminationGracePeriodSeconds (default 30) shorter than
#   a container's preStop sleep (`sleep N` as an exec command, directly or in
#   `sh -c`, or lifecycle.preStop.sleep.seconds) plus drain_seconds. Covers Pods,
#   Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
#   Argo Rollouts and DeploymentConfigs.
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

violation contains {"msg": msg, "details": {"container": c.name, "services": services}} if {
	count(services) > 0
	some c in pod_containers
	is_array(c.ports)
	count(c.ports) > 0
	not has_prestop(c)
	msg := sprintf(
		"container %q has no preStop hook but its pod is an endpoint of %s: it gets SIGTERM while still receiving traffic",
		[c.name, services_text],
	)
}

violation contains {"msg": msg, "details": details} if {
	some c in pod_containers
	sleep_seconds := prestop_sleep(c)
	required := sleep_seconds + drain_seconds
	grace_period < required
	details := {
		"container": c.name,
		"termination_grace_period_seconds": grace_period,
		"prestop_sleep_seconds": sleep_seconds,
		"drain_seconds": drain_seconds,
		"required_seconds": required,
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

pod_containers := k8s.obj_containers if is_array(k8s.obj_pod_spec.containers)

# Names of the Services of the namespace whose selector picks the pods.
services := sort([svc_name |
	some svc in k8s.selector_candidates(k8s.namespace, "Service", k8s.obj_pod_labels)
	k8s.map_selector_matches(svc.spec.selector, k8s.obj_pod_labels)
	svc_name := svc.metadata.name
])

services_text := sprintf("Service %q", [services[0]]) if {
	count(services) == 1
} else := sprintf("Services %s", [concat(", ", [sprintf("%q", [s]) | some s in services])])

has_prestop(c) if is_object(c.lifecycle.preStop)

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
