# METADATA
# title: Replicas are spread across nodes
# description: >-
#   Several replicas only protect a rollout or a node drain if they do not all
#   run on the same node. A workload with 2 or more replicas needs either
#   podAntiAffinity on topologyKey kubernetes.io/hostname (required or
#   preferred) or topologySpreadConstraints; without them the scheduler may
#   pack every replica onto one node, and draining or losing that node takes
#   them all down at once. Covers Deployments, StatefulSets, ReplicaSets,
#   ReplicationControllers, Argo Rollouts and DeploymentConfigs (DaemonSets
#   already run one pod per node).
# scope: package
# custom:
#   id: k8s.spread
#   severity: medium
#   controls: ["SOC2:A1.1", "ISO27001:A.8.14", "NIST-800-53:SC-36", "NIST-800-53:CP-10"]
#   remediation: >-
#     Add a topologySpreadConstraint with topologyKey kubernetes.io/hostname
#     (maxSkew 1) and a labelSelector matching the pods, or a
#     podAntiAffinity term on topologyKey kubernetes.io/hostname.
#   applies_to: [Deployment, StatefulSet, ReplicaSet, ReplicationController, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     properties: {}
#   example_allowed: |
#     replicas: 3
#     template:
#       spec:
#         topologySpreadConstraints:
#         - maxSkew: 1
#           topologyKey: kubernetes.io/hostname
#           whenUnsatisfiable: DoNotSchedule
#           labelSelector:
#             matchLabels: {app.kubernetes.io/name: web}
#   example_disallowed: |
#     replicas: 3
#     template:
#       spec:
#         containers: [{name: web, image: registry.example.com/web:1.4.2}]
package rollguard.k8s.spread

import data.rollguard.lib.k8s

hostname_key := "kubernetes.io/hostname"

violation contains {"msg": msg, "details": {"replicas": desired, "topology_key": hostname_key}} if {
	k8s.kind in spread_kinds
	desired := k8s.obj_replicas
	desired >= 2
	not spread_configured
	msg := sprintf(
		"%v replicas have neither podAntiAffinity on %s nor topologySpreadConstraints: one node drain can take them all down",
		[desired, hostname_key],
	)
}

spread_kinds := {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Rollout", "DeploymentConfig"}

spread_configured if {
	constraints := k8s.obj_pod_spec.topologySpreadConstraints
	is_array(constraints)
	count(constraints) > 0
}

spread_configured if {
	some term in anti_affinity("requiredDuringSchedulingIgnoredDuringExecution")
	term.topologyKey == hostname_key
}

spread_configured if {
	some weighted in anti_affinity("preferredDuringSchedulingIgnoredDuringExecution")
	weighted.podAffinityTerm.topologyKey == hostname_key
}

anti_affinity(field) := terms if {
	terms := k8s.obj_pod_spec.affinity.podAntiAffinity[field]
	is_array(terms)
} else := []
