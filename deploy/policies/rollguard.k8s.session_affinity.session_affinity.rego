# METADATA
# title: Services in front of rolling workloads do not pin sessions
# description: >-
#   sessionAffinity ClientIP sends every request of a client to the same pod.
#   A rolling update replaces every pod, so each client loses its session (and
#   any state kept in the pod) when its pod goes, load piles onto the pods that
#   happen to survive longest, and new pods stay idle until the old clients time
#   out (10800 seconds by default). Judges Services with sessionAffinity
#   ClientIP whose selector matches the pod template labels of a Deployment,
#   StatefulSet, DaemonSet, Argo Rollout or DeploymentConfig of the same
#   namespace in the inventory. Low because sticky sessions only degrade a
#   rollout (sessions drop, load is uneven for a while), and some applications
#   need them.
# scope: package
# custom:
#   id: k8s.session_affinity
#   severity: low
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Keep the sessions of {{ workload_kind }} {{ workload }} out of its pods (a
#     shared store such as Redis, or signed client-side tokens) and remove
#     sessionAffinity (or set it to None); if affinity is unavoidable, lower
#     sessionAffinityConfig.clientIP.timeoutSeconds and drain connections with a
#     preStop hook.
#   applies_to: [Service]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     kind: Service
#     spec:
#       selector: {app.kubernetes.io/name: checkout}
#       ports: [{port: 80, targetPort: http}]
#   example_disallowed: |
#     kind: Service
#     spec:
#       selector: {app.kubernetes.io/name: checkout}
#       sessionAffinity: ClientIP
#       ports: [{port: 80, targetPort: http}]
package rollguard.k8s.session_affinity

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": d} if {
	k8s.kind == "Service"
	k8s.obj.spec.sessionAffinity == "ClientIP"
	some wkind in k8s.rolling_kinds
	some w in k8s.inventory(k8s.namespace, wkind)
	is_string(w.metadata.name)
	is_object(w.spec.template)
	k8s.map_selector_matches(k8s.obj.spec.selector, k8s.pod_labels(w))
	d := {"sessionAffinity": "ClientIP", "workload_kind": wkind, "workload": w.metadata.name, "path": "spec.sessionAffinity"}
	msg := sprintf("pins each client to one pod (sessionAffinity: ClientIP) of %s %s: sessions drop when a rollout replaces the pods", [wkind, w.metadata.name])
}
