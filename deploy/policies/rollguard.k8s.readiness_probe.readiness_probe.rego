# METADATA
# title: Serving containers declare a readiness probe
# description: >-
#   During a rolling update Kubernetes sends traffic to a new pod, and removes an
#   old one, as soon as the new pod is Ready. Without a readinessProbe a container
#   is Ready the moment it starts, before it can serve, so every rollout drops
#   requests. Every probe named in `probes` (readinessProbe by default) must be
#   present and use one of the handlers in `probe_types`; a probe without a
#   handler checks nothing. Judges serving containers only (`serving`
#   ports_or_service, the default): a container that declares a port, or one a
#   Service of its namespace (from the change or the cluster) sends traffic to,
#   by the port name or number its targetPort names (a port-less container
#   counts when the targetPort is a number no container declares, and every
#   container counts for a Service without ports). Left alone: containers that
#   declare no port and that no Service routes to, such as queue workers and
#   log shippers, whose readiness nothing waits for; and bare Pods that no
#   Service selects, since only a Service's endpoints read a bare Pod's
#   readiness. `serving: all` judges every container. Covers Deployments,
#   StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Rollouts,
#   DeploymentConfigs and bare Pods; Jobs and CronJobs are left out because
#   nothing routes traffic to them. High severity: a serving container without
#   a readiness probe drops requests on every rollout.
# scope: package
# custom:
#   id: k8s.readiness_probe
#   severity: high
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Add a readinessProbe to every serving container that checks the endpoint
#     the application uses to say it can take traffic (for example an HTTP GET on
#     /ready), separate from the liveness check. Give every required probe a
#     handler (httpGet, tcpSocket, exec or grpc).
#   case_remediation:
#     missing_probe: >-
#       Add a {{ probe }} with a handler to container {{ container }}. For a
#       readinessProbe, check the endpoint the application uses to say it can
#       take traffic (for example an HTTP GET on /ready), separate from the
#       liveness check.
#     no_handler: >-
#       Give the {{ probe }} of container {{ container }} a handler, one of
#       {{ probe_types }}. For a readinessProbe, check the endpoint the
#       application uses to say it can take traffic (for example an HTTP GET on
#       /ready).
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Rollout, DeploymentConfig]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Service]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       exempt_images:
#         type: array
#         items: {type: string}
#         default: []
#         description: Image prefixes exempt from the check (sidecars that cannot be probed).
#       probes:
#         type: array
#         items: {type: string}
#         default: ["readinessProbe"]
#         description: >-
#           Probe fields every container must set, e.g. ["readinessProbe",
#           "livenessProbe"]; an empty list checks nothing.
#       probe_types:
#         type: array
#         items: {type: string}
#         minItems: 1
#         default: ["httpGet", "tcpSocket", "exec", "grpc"]
#         description: >-
#           Handlers a required probe may use; a probe with none of them is a
#           violation.
#       serving:
#         type: string
#         enum: [ports_or_service, all]
#         default: ports_or_service
#         description: >-
#           Which containers must have the probes: ports_or_service (those that
#           declare a port, in a workload other than a bare Pod, or that a Service
#           selecting the pod routes to) or all (every container).
#   example_allowed: |
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#       readinessProbe:
#         httpGet: {path: /ready, port: 8080}
#   example_disallowed: |
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#       ports: [{name: http, containerPort: 8080}]
package rollguard.k8s.readiness_probe

import data.rollguard.lib.k8s

# Each required probe a judged container lacks, or has without a handler, in one pass over the
# containers. The probes come first, as nearly every container has them: which containers are
# judged (serving, exempt) is only worked out for one that lacks a probe.
violation contains f if {
	some c in k8s.obj_containers
	some probe in probes_parameter
	not probe_ready(c, probe)
	is_string(probe)
	c in judged_containers
	not exempt(c)
	f := gap_finding(c, probe, gap_case(c, probe))
}

gap_finding(c, probe, "missing_probe") := {
	"msg": sprintf("container %q has no %s", [c.name, probe]),
	"details": {"container": c.name, "probe": probe, "case": "missing_probe", "path": k8s.container_field_path(c, probe)},
}

gap_finding(c, probe, "no_handler") := {
	"msg": sprintf("container %q has a %s with no handler (one of %s)", [c.name, probe, concat(", ", handler_types)]),
	"details": {
		"container": c.name,
		"probe": probe,
		"probe_types": handler_types,
		"case": "no_handler",
		"path": k8s.container_field_path(c, probe),
	},
}

# Whether container `c` has `probe` with a handler. A function, not `not has_handler(c[probe])`:
# OPA would evaluate the reference outside the negation, and a missing probe would fail the rule
# instead of counting as a gap.
probe_ready(c, probe) if {
	spec := c[probe]
	some t in probe_types_parameter
	is_object(spec[t])
}

gap_case(c, probe) := "missing_probe" if {
	not has_probe(c, probe)
} else := "no_handler" if {
	not has_handler(c[probe])
}

# Missing, null or not an object: the container has no such probe.
has_probe(c, probe) if is_object(c[probe])

# The containers the probes are required of (`serving`).
judged_containers := k8s.obj_containers if {
	input.parameters.serving == "all"
} else := k8s.obj_serving_containers

# Probe fields to require (the strings among them); a malformed parameter falls back to the default.
probes_parameter := probes if {
	probes := input.parameters.probes
	is_array(probes)
} else := ["readinessProbe"]

handler_types := [t | some t in input.parameters.probe_types; is_string(t)] if {
	is_array(input.parameters.probe_types)
} else := ["httpGet", "tcpSocket", "exec", "grpc"]

# The parameter itself rather than handler_types: a handler found among the first entries
# spares checking the others are strings (a non-string never names a handler anyway).
has_handler(probe_spec) if {
	some t in probe_types_parameter
	is_object(probe_spec[t])
}

probe_types_parameter := types if {
	types := input.parameters.probe_types
	is_array(types)
} else := ["httpGet", "tcpSocket", "exec", "grpc"]

# A container whose image is not a string matches no prefix: startswith would raise an error.
exempt(c) if {
	is_array(input.parameters.exempt_images)
	image := c.image
	is_string(image)
	some prefix in input.parameters.exempt_images
	startswith(image, prefix)
}
