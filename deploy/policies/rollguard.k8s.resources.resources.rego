# METADATA
# title: Containers request CPU and memory and limit memory
# description: >-
#   A rolling update briefly runs old and new pods side by side (maxSurge). The
#   scheduler places the surge pods by their requests: without cpu and memory
#   requests it packs them onto nodes that cannot hold them, and without a
#   memory limit one leaking pod can push a node into memory pressure and have
#   the kubelet evict healthy neighbours in the middle of the rollout. Judges
#   the containers and init containers (ephemeral containers cannot declare
#   resources) of Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
#   ReplicationControllers, Jobs, CronJobs, Argo Rollouts and DeploymentConfigs.
#   A request left unset next to a limit counts as set, because Kubernetes
#   copies the limit into it. Medium because missing requests and limits make
#   scheduling and eviction during a surge unpredictable but rarely fail a
#   rollout by themselves.
# scope: package
# custom:
#   id: k8s.resources
#   severity: medium
#   controls: ["SOC2:A1.1", "ISO27001:A.8.6", "NIST-800-53:SC-6", "NIST-800-53:CM-6"]
#   remediation: >-
#     Set resources {{ missing }} on container {{ container }}: the requests to
#     its steady-state usage and limits.memory to its peak (often equal to the
#     request), e.g. requests {cpu: 250m, memory: 256Mi}, limits {memory:
#     256Mi}.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#       resources:
#         requests: {cpu: 250m, memory: 256Mi}
#         limits: {memory: 256Mi}
#   example_disallowed: |
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#       resources:
#         requests: {cpu: 250m}
package rollguard.k8s.resources

import data.rollguard.lib.k8s

required := ["requests.cpu", "requests.memory", "limits.memory"]

violation contains f if {
	some c in k8s.obj_containers
	not declares_all(c)
	count(missing(c)) > 0
	f := finding(c)
}

# Init containers too; ephemeral containers cannot declare resources.
violation contains f if {
	inits := k8s.obj_pod_spec.initContainers
	is_array(inits)
	some c in inits
	is_object(c)
	not declares_all(c)
	count(missing(c)) > 0
	f := finding(c)
}

finding(c) := {"msg": msg, "details": d} if {
	m := missing(c)
	d := {"container": c.name, "missing": m, "path": k8s.container_field_path(c, concat(".", ["resources", m[0]]))}
	msg := sprintf("container %q does not set %s", [c.name, concat(", ", m)])
}

missing(c) := [field | some field in required; not declares(c, field)]

declares(c, "requests.cpu") if quantity(c.resources.requests.cpu)

# The API server defaults a missing request to the limit.
declares(c, "requests.cpu") if quantity(c.resources.limits.cpu)

declares(c, "requests.memory") if quantity(c.resources.requests.memory)

declares(c, "requests.memory") if quantity(c.resources.limits.memory)

declares(c, "limits.memory") if quantity(c.resources.limits.memory)

# The quick test that clears nearly every container: each field set to a non-empty string in
# its usual place (numbers and limits standing in for requests take the long way, missing()).
declares_all(c) if {
	cpu := c.resources.requests.cpu
	is_string(cpu)
	cpu != ""
	memory := c.resources.requests.memory
	is_string(memory)
	memory != ""
	limit := c.resources.limits.memory
	is_string(limit)
	limit != ""
}

quantity(q) if is_number(q)

quantity(q) if {
	is_string(q)
	q != ""
}
