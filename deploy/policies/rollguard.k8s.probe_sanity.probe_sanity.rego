# METADATA
# title: Probes are configured so that rollouts can tell ready from broken
# description: >-
#   Badly set probes turn a rollout into a restart loop. A livenessProbe that is
#   identical to the readinessProbe (same handler and the same timing, defaults
#   filled in) restarts a pod that is merely busy instead of only taking it out
#   of the Service. A livenessProbe without a startupProbe kills a new pod that
#   has not started within initialDelaySeconds + failureThreshold x
#   periodSeconds (Kubernetes defaults 0, 3 and 10: 30 seconds), so a slow
#   start never becomes available; that grace, not initialDelaySeconds alone,
#   is judged against min_liveness_grace, so a probe with initialDelaySeconds 0
#   and enough failures passes, and a startupProbe (which holds the
#   livenessProbe back until the start-up succeeds) exempts the container. A
#   probe whose port (httpGet, tcpSocket or grpc) is named but not declared in
#   the container's ports fails, because the kubelet resolves the name there;
#   one on a port the container declares only with protocol UDP (or SCTP)
#   fails too, since HTTP, TCP and gRPC probes connect over TCP. A probe on a
#   port number the container does not declare works (Kubernetes treats the
#   ports list as information), so it is reported at info severity only, as a
#   gap in what the container says it listens on. Judges regular containers
#   and sidecar init containers (restartPolicy Always) of Pods, Deployments,
#   StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
#   CronJobs, Rollouts and DeploymentConfigs. Medium severity: each of these
#   makes pods restart or never become ready during a rollout.
# scope: package
# custom:
#   id: k8s.probe_sanity
#   severity: medium
#   case_severity: {undeclared_port_number: info}
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.9", "NIST-800-53:CM-6"]
#   remediation: >-
#     Give the livenessProbe its own cheap endpoint (for example /healthz) or a
#     higher failureThreshold than the readinessProbe; add a startupProbe, or
#     raise the livenessProbe's initialDelaySeconds, failureThreshold or
#     periodSeconds until initialDelaySeconds + failureThreshold x periodSeconds
#     reaches min_liveness_grace; and declare every port a probe uses under the
#     container's ports, with a name when the probe uses one, and with protocol
#     TCP (the default).
#   case_remediation:
#     identical_probes: >-
#       Make the livenessProbe of container {{ container }} differ from its
#       readinessProbe: point it at its own cheap endpoint (for example
#       /healthz, failing only when the process must be restarted), or give it
#       a higher failureThreshold than the readinessProbe, so that a busy pod
#       leaves the Service before it is restarted.
#     short_liveness_grace: >-
#       Add a startupProbe to container {{ container }} that allows for its
#       slowest start, or raise the livenessProbe's initialDelaySeconds,
#       failureThreshold or periodSeconds until initialDelaySeconds +
#       failureThreshold x periodSeconds (now {{ initial_delay_seconds }} +
#       {{ failure_threshold }} x {{ period_seconds }} = {{ grace_seconds }}s)
#       reaches {{ min_liveness_grace }}s.
#     undeclared_port_name: >-
#       Declare port {{ port }} under the ports of container {{ container }}:
#       an entry with name {{ port }} and the containerPort the application
#       listens on (protocol TCP, the default). Or change the port of the
#       {{ probe }}'s {{ handler }} to one the container declares.
#     undeclared_port_number: >-
#       Add `{containerPort: {{ port }}}` (protocol TCP, the default) to the
#       ports of container {{ container }}, so that its ports list says it
#       listens there; the {{ probe }} works as it is.
#     non_tcp_port: >-
#       The {{ probe }}'s {{ handler }} check connects over TCP, but container
#       {{ container }} declares port {{ port }} only with protocol
#       {{ protocols }}. If the container serves that port over TCP too,
#       declare it again with protocol TCP (a named port needs a name of its
#       own for that entry, and the probe should use it); otherwise point the
#       probe at a port the container serves over TCP, or use an exec probe.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_liveness_grace:
#         type: integer
#         minimum: 0
#         default: 30
#         description: >-
#           Fewest seconds a livenessProbe may give a container to start
#           (initialDelaySeconds + failureThreshold x periodSeconds) when it has
#           no startupProbe; 30 accepts Kubernetes' defaults (0 + 3 x 10).
#   example_allowed: |
#     containers:
#     - name: web
#       ports: [{name: http, containerPort: 8080}]
#       readinessProbe:
#         httpGet: {path: /ready, port: http}
#       livenessProbe:
#         httpGet: {path: /healthz, port: http}
#         failureThreshold: 6
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

violation contains {"msg": msg, "details": details} if {
	some c in probed_containers
	liveness := c.livenessProbe
	readiness := c.readinessProbe
	is_object(liveness)
	is_object(readiness)

	# Handlers first: they usually differ, and then the timings need no defaults filled in.
	object.filter(liveness, {"exec", "httpGet", "tcpSocket", "grpc"}) == object.filter(readiness, {"exec", "httpGet", "tcpSocket", "grpc"})
	timing(liveness) == timing(readiness)
	some name, _ in object.filter(liveness, {"exec", "httpGet", "tcpSocket", "grpc"})
	details := {
		"container": c.name,
		"handler": name,
		"case": "identical_probes",
		"path": k8s.container_field_path(c, "livenessProbe"),
	}
	msg := sprintf(
		"container %q has a livenessProbe identical to its readinessProbe: a pod that is only busy gets restarted instead of taken out of the Service",
		[c.name],
	)
}

violation contains {"msg": msg, "details": details} if {
	some c in probed_containers
	liveness := c.livenessProbe
	is_object(liveness)
	# object.get, not `c.startupProbe`: OPA would evaluate the reference outside the negation,
	# and a missing startupProbe would fail the rule.
	not is_object(object.get(c, "startupProbe", null))
	{"initialDelaySeconds": delay, "failureThreshold": failures, "periodSeconds": period, "timeoutSeconds": _} := timing(liveness)
	is_number(delay)
	is_number(failures)
	is_number(period)
	delay + failures * period < min_liveness_grace
	grace := delay + failures * period
	details := {
		"container": c.name,
		"initial_delay_seconds": delay,
		"failure_threshold": failures,
		"period_seconds": period,
		"grace_seconds": grace,
		"min_liveness_grace": min_liveness_grace,
		"case": "short_liveness_grace",
		"path": k8s.container_field_path(c, "livenessProbe"),
	}
	msg := sprintf(
		"container %q has a livenessProbe that restarts it if it is not up %vs after starting (initialDelaySeconds %v + failureThreshold %v x periodSeconds %v) and no startupProbe: a start slower than that is killed before it is ready (minimum %vs)",
		[c.name, grace, delay, failures, period, min_liveness_grace],
	)
}

# The ports probes name that the container does not declare over TCP, each reported by the one
# case of port_finding that fits it.
violation contains f if {
	some e in port_problems
	f := port_finding(e)
}

# A named port the container does not declare: the kubelet cannot resolve it.
port_finding(e) := {"msg": msg, "details": details} if {
	count(e.declarations) == 0
	is_string(e.port)
	details := object.union(undeclared_details(e), {"case": "undeclared_port_name"})
	msg := sprintf("%s of container %q uses port %q, which the container does not declare", [e.probe, e.container.name, e.port])
}

# A port number the container does not declare: the probe works, the ports list is incomplete.
port_finding(e) := {"msg": msg, "details": details} if {
	count(e.declarations) == 0
	is_number(e.port)
	details := object.union(undeclared_details(e), {"case": "undeclared_port_number"})
	msg := sprintf(
		"%s of container %q uses port %v, which the container does not declare: the probe works, but the ports list does not say the container listens there",
		[e.probe, e.container.name, e.port],
	)
}

# A declared port that only speaks UDP or SCTP: the kubelet's probe connection never reaches it.
port_finding(e) := {"msg": msg, "details": details} if {
	count(e.declarations) > 0
	protocols := sort({p | some d in e.declarations; p := protocol(d)})
	not "TCP" in protocols
	c := e.container
	details := {
		"container": c.name,
		"probe": e.probe,
		"handler": e.handler,
		"port": e.port,
		"protocols": protocols,
		"case": "non_tcp_port",
		"path": port_path(c, e.probe, e.handler),
	}
	msg := sprintf(
		"%s of container %q uses port %s, which the container declares with protocol %s: the probe connects over TCP and fails",
		[e.probe, c.name, port_text(e.port), concat(" and ", protocols)],
	)
}

min_liveness_grace := n if {
	n := input.parameters.min_liveness_grace
	is_number(n)
} else := 30

undeclared_details(e) := {
	"container": e.container.name,
	"probe": e.probe,
	"handler": e.handler,
	"port": e.port,
	"declared_names": sort([n | some p in declared_ports(e.container); n := p.name; is_string(n)]),
	"declared_numbers": sort([n | some p in declared_ports(e.container); n := p.containerPort; is_number(n)]),
	"path": port_path(e.container, e.probe, e.handler),
}

# The port field of a probe's handler: `spec.template.spec.containers[0].readinessProbe.httpGet.port`.
port_path(c, probe_field, handler) := k8s.container_field_path(c, sprintf("%s.%s.port", [probe_field, handler]))

# Regular containers, and init containers that run beside them as sidecars
# (restartPolicy Always), the only init containers that may have probes.
probed_containers := k8s.obj_containers if {
	not k8s.obj_pod_spec.initContainers
} else := array.concat(k8s.obj_containers, sidecars) if {
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

# The ports probes name (httpGet, tcpSocket or grpc) that the container does not declare over
# TCP, once per document, with the declarations the port refers to: by name for a named port,
# by containerPort for a number (none for anything else, such as a null port, which no case of
# port_finding reports).
port_problems := [e |
	some c in probed_containers
	some probe, spec in object.filter(c, {"livenessProbe", "readinessProbe", "startupProbe"})
	is_object(spec)
	some handler, action in object.filter(spec, {"httpGet", "tcpSocket", "grpc"})
	port := action.port
	not tcp_port(c, port)
	e := {"container": c, "probe": probe, "handler": handler, "port": port, "declarations": port_declarations(c, port)}
]

# Whether container `c` declares `port` (a name or a number) with protocol TCP, the default:
# the quick test that clears nearly every probe. A malformed protocol fails it, and the rules
# above then judge the port with the same defaults as protocol().
tcp_port(c, port) if {
	is_string(port)
	is_array(c.ports)
	some p in c.ports
	p.name == port
	object.get(p, "protocol", "TCP") == "TCP"
}

tcp_port(c, port) if {
	is_number(port)
	is_array(c.ports)
	some p in c.ports
	p.containerPort == port
	object.get(p, "protocol", "TCP") == "TCP"
}

# What decides when a probe fails beside its handler: its timing, with Kubernetes' defaults
# for fields unset or null (the second form, for a probe with any field set to null).
timing(probe) := object.union(
	{"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3},
	object.filter(probe, {"initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"}),
) if {
	not null in probe
} else := object.union(
	{"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3},
	{k: v |
		some k in ["initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"]
		v := probe[k]
		v != null
	},
)

declared_ports(c) := [p | some p in c.ports; is_object(p)] if {
	is_array(c.ports)
} else := []

# The declarations a probe's port refers to: by name for a named port, by containerPort for a number.
port_declarations(c, port) := [p | some p in declared_ports(c); p.name == port] if {
	is_string(port)
} else := [p | some p in declared_ports(c); p.containerPort == port] if {
	is_number(port)
} else := []

# Kubernetes defaults a port's protocol to TCP.
protocol(p) := p.protocol if is_string(p.protocol) else := "TCP"

port_text(port) := sprintf("%q", [port]) if is_string(port) else := sprintf("%v", [port])
