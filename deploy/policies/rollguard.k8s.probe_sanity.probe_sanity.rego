# METADATA
# title: Probes are configured so that rollouts can tell ready from broken
# description: >-
#   Badly set probes turn a rollout into a restart loop. A livenessProbe that is
#   identical to the readinessProbe (same handler and the same timing, defaults
#   filled in) restarts a pod that is merely busy instead of only taking it out
#   of the Service. A livenessProbe without a startupProbe whose
#   initialDelaySeconds is below min_liveness_delay kills new pods that start
#   slowly, so the new version never becomes available. A probe whose port
#   (httpGet, tcpSocket or grpc) is not declared in the container's ports (by
#   name for named ports, by containerPort for numbers) fails or points at the
#   wrong listener, and so does one on a port the container declares only
#   with protocol UDP (or SCTP): HTTP, TCP and gRPC probes connect over TCP.
#   Judges regular containers and sidecar init containers
#   (restartPolicy Always) of Pods, Deployments, StatefulSets, DaemonSets,
#   ReplicaSets, ReplicationControllers, Jobs, CronJobs, Rollouts and
#   DeploymentConfigs.
# scope: package
# custom:
#   id: k8s.probe_sanity
#   severity: medium
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.9", "NIST-800-53:CM-6"]
#   remediation: >-
#     Give the livenessProbe its own cheap endpoint (for example /healthz) or a
#     higher failureThreshold than the readinessProbe; add a startupProbe or an
#     initialDelaySeconds of at least min_liveness_delay; and declare every port
#     a probe uses under the container's ports, with a name when the probe uses one,
#     and with protocol TCP (the default).
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_liveness_delay:
#         type: integer
#         minimum: 0
#         default: 10
#         description: Smallest livenessProbe initialDelaySeconds accepted when the container has no startupProbe.
#   example_allowed: |
#     containers:
#     - name: web
#       ports: [{name: http, containerPort: 8080}]
#       readinessProbe:
#         httpGet: {path: /ready, port: http}
#       livenessProbe:
#         httpGet: {path: /healthz, port: http}
#         initialDelaySeconds: 20
#   example_disallowed: |
#     containers:
#     - name: web
#       ports: [{containerPort: 8080}]
#       readinessProbe:
#         httpGet: {path: /ready, port: http}
#       livenessProbe:
#         httpGet: {path: /ready, port: http}
package rollguard.k8s.probe_sanity

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": {"container": c.name, "handler": handler}} if {
	some c in probed_containers
	is_object(c.livenessProbe)
	is_object(c.readinessProbe)

	# Handlers first: they usually differ, and then the timings need no defaults filled in.
	object.filter(c.livenessProbe, handler_fields) == object.filter(c.readinessProbe, handler_fields)
	liveness := comparable(c.livenessProbe)
	liveness == comparable(c.readinessProbe)
	some handler, _ in liveness.handler
	msg := sprintf(
		"container %q has a livenessProbe identical to its readinessProbe: a pod that is only busy gets restarted instead of taken out of the Service",
		[c.name],
	)
}

violation contains {"msg": msg, "details": details} if {
	some c in probed_containers
	is_object(c.livenessProbe)
	not has_startup_probe(c)
	delay := value_or(c.livenessProbe, "initialDelaySeconds", 0)
	is_number(delay)
	delay < min_liveness_delay
	details := {"container": c.name, "initial_delay_seconds": delay, "min_liveness_delay": min_liveness_delay}
	msg := sprintf(
		"container %q has a livenessProbe with initialDelaySeconds %v and no startupProbe: a slow start is killed before it is ready (minimum %v)",
		[c.name, delay, min_liveness_delay],
	)
}

violation contains {"msg": msg, "details": details} if {
	some c in probed_containers
	some probe_field in ["livenessProbe", "readinessProbe", "startupProbe"]
	some handler in ["httpGet", "tcpSocket", "grpc"]
	port := c[probe_field][handler].port
	port != null
	not port_declared(c, port)
	details := {
		"container": c.name,
		"probe": probe_field,
		"handler": handler,
		"port": port,
		"declared_names": sort([n | some p in declared_ports(c); n := p.name; is_string(n)]),
		"declared_numbers": sort([n | some p in declared_ports(c); n := p.containerPort; is_number(n)]),
	}
	msg := sprintf("%s of container %q uses port %s, which the container does not declare", [probe_field, c.name, port_text(port)])
}

# A declared port that only speaks UDP or SCTP: the kubelet's probe connection never reaches it.
violation contains {"msg": msg, "details": details} if {
	some c in probed_containers
	some probe_field in ["livenessProbe", "readinessProbe", "startupProbe"]
	some handler in ["httpGet", "tcpSocket", "grpc"]
	port := c[probe_field][handler].port
	port != null
	port_declared(c, port)
	not tcp_declared(c, port)
	protocols := sort({p | some d in port_declarations(c, port); p := protocol(d)})
	details := {
		"container": c.name,
		"probe": probe_field,
		"handler": handler,
		"port": port,
		"protocols": protocols,
	}
	msg := sprintf(
		"%s of container %q uses port %s, which the container declares with protocol %s: the probe connects over TCP and fails",
		[probe_field, c.name, port_text(port), concat(" and ", protocols)],
	)
}

min_liveness_delay := n if {
	n := input.parameters.min_liveness_delay
	is_number(n)
} else := 10

# Regular containers, and init containers that run beside them as sidecars
# (restartPolicy Always), the only init containers that may have probes.
probed_containers := array.concat(k8s.obj_containers, sidecars) if {
	is_array(k8s.obj_pod_spec.containers)
}

sidecars := [c |
	some c in init_containers
	is_object(c)
	c.restartPolicy == "Always"
]

init_containers := k8s.obj_pod_spec.initContainers if {
	is_array(k8s.obj_pod_spec.initContainers)
} else := []

has_startup_probe(c) if is_object(c.startupProbe)

handler_fields := {"exec", "httpGet", "tcpSocket", "grpc"}

# What decides when a probe fails: its handler and its timing with Kubernetes' defaults.
comparable(probe) := {
	"handler": object.filter(probe, handler_fields),
	"initialDelaySeconds": value_or(probe, "initialDelaySeconds", 0),
	"periodSeconds": value_or(probe, "periodSeconds", 10),
	"timeoutSeconds": value_or(probe, "timeoutSeconds", 1),
	"failureThreshold": value_or(probe, "failureThreshold", 3),
}

value_or(o, key, fallback) := o[key] if {
	o[key] != null
} else := fallback

declared_ports(c) := [p | some p in c.ports; is_object(p)] if {
	is_array(c.ports)
} else := []

port_declared(c, port) if {
	is_string(port)
	some p in declared_ports(c)
	p.name == port
}

port_declared(c, port) if {
	is_number(port)
	some p in declared_ports(c)
	p.containerPort == port
}

# The declarations a probe's port refers to: by name for a named port, by containerPort for a number.
port_declarations(c, port) := [p | some p in declared_ports(c); p.name == port] if {
	is_string(port)
} else := [p | some p in declared_ports(c); p.containerPort == port]

# Kubernetes defaults a port's protocol to TCP.
protocol(p) := p.protocol if is_string(p.protocol) else := "TCP"

tcp_declared(c, port) if {
	some p in port_declarations(c, port)
	protocol(p) == "TCP"
}

port_text(port) := sprintf("%q", [port]) if is_string(port) else := sprintf("%v", [port])
