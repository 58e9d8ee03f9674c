# METADATA
# title: Containers declare a readiness probe
# description: >-
#   During a rolling update Kubernetes sends traffic to a new pod, and removes an
#   old one, as soon as the new pod is Ready. Without a readinessProbe a container
#   is Ready the moment it starts, before it can serve, so every rollout drops
#   requests. Covers Deployments, StatefulSets, DaemonSets, ReplicaSets,
#   ReplicationControllers, Rollouts, DeploymentConfigs and bare Pods; Jobs and
#   CronJobs are left out because nothing routes traffic to them.
# scope: package
# custom:
#   id: k8s.readiness_probe
#   severity: high
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Add a readinessProbe to every serving container that checks the endpoint
#     the application uses to say it can take traffic (for example an HTTP GET on
#     /ready), separate from the liveness check.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     properties:
#       exempt_images:
#         type: array
#         items: {type: string}
#         default: []
#         description: Image prefixes exempt from the check (sidecars that cannot be probed).
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
package rollguard.k8s.readiness_probe

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": {"container": c.name}} if {
	some c in k8s.containers(k8s.obj)
	not has_readiness_probe(c)
	not exempt(c)
	msg := sprintf("container %q has no readinessProbe", [c.name])
}

has_readiness_probe(c) if is_object(c.readinessProbe)

exempt(c) if {
	some prefix in input.parameters.exempt_images
	startswith(c.image, prefix)
}
