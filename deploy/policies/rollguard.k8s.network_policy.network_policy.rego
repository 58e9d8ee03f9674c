# METADATA
# title: Workloads are isolated by NetworkPolicies
# description: >-
#   Pods that no NetworkPolicy selects accept traffic from every pod of the
#   cluster. A rollout then ships the new version reachable by anything,
#   including other teams' workloads and whatever an attacker already
#   controls, and an allow rule written for one release silently stops
#   mattering. Reports a workload whose pods no NetworkPolicy of its namespace
#   selects (a podSelector {} selects every pod), and a workload whose
#   namespace has no default-deny ingress policy: podSelector {}, Ingress in
#   policyTypes (Kubernetes' default when policyTypes is unset) and no ingress
#   rules. NetworkPolicies are looked up in the inventory (the change set and,
#   when connected, the cluster). Judges Pods, Deployments, StatefulSets,
#   DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs, Argo
#   Rollouts and DeploymentConfigs that carry a pod template. Medium because
#   missing isolation is hardening: it widens what a compromised pod can reach
#   but does not endanger the rollout or the cluster by itself.
# scope: package
# custom:
#   id: k8s.network_policy
#   severity: medium
#   controls: ["NIST-800-53:SC-7", "NIST-800-53:AC-4", "ISO27001:A.8.22", "CIS-K8S:5.3.2"]
#   remediation: >-
#     Add a default-deny ingress NetworkPolicy to the namespace (podSelector: {},
#     policyTypes: [Ingress], no ingress rules) and a NetworkPolicy whose
#     podSelector matches the workload's pod labels and allows only the callers
#     and ports it needs.
#   case_remediation:
#     not_selected: >-
#       Add a NetworkPolicy to namespace {{ namespace }} whose podSelector
#       matches the pod template labels and allows only the callers and ports
#       the workload needs.
#     no_default_deny: >-
#       Add a default-deny ingress NetworkPolicy to namespace {{ namespace }}
#       (podSelector: {}, policyTypes: [Ingress], no ingress rules), then allow
#       each workload's callers with its own NetworkPolicy.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [NetworkPolicy]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     kind: NetworkPolicy
#     metadata: {name: default-deny-ingress, namespace: shop}
#     spec:
#       podSelector: {}
#       policyTypes: [Ingress]
#   example_disallowed: |
#     # the namespace's only NetworkPolicy allows everything in
#     kind: NetworkPolicy
#     metadata: {name: allow-all, namespace: shop}
#     spec:
#       podSelector: {}
#       ingress: [{}]
package rollguard.k8s.network_policy

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": d} if {
	has_pods(k8s.obj)
	labels := k8s.obj_pod_labels
	not isolated(labels)
	d := {
		"namespace": k8s.namespace,
		"pod_labels": labels,
		"case": "not_selected",
		"path": sprintf("%s.labels", [k8s.obj_pod_metadata_path]),
	}
	msg := sprintf("no NetworkPolicy in namespace %q selects its pods", [k8s.namespace])
}

violation contains {"msg": msg, "details": {"namespace": k8s.namespace, "case": "no_default_deny", "path": "metadata.namespace"}} if {
	has_pods(k8s.obj)
	not namespace_denies_ingress
	msg := sprintf("namespace %q has no default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no ingress rules)", [k8s.namespace])
}

# Argo Rollouts with a workloadRef have no template of their own.
has_pods(wl) if is_object(k8s.pod_spec(wl))

isolated(labels) if {
	some np in k8s.selector_candidates(k8s.namespace, "NetworkPolicy", labels)
	selects(np, labels)
}

selects(np, _) if selects_all(np)

selects(np, labels) if k8s.selector_matches(np.spec.podSelector, labels)

namespace_denies_ingress if {
	# Policies selecting every pod have no label pair, so no labels find them all.
	some np in k8s.selector_candidates(k8s.namespace, "NetworkPolicy", {})
	selects_all(np)
	governs_ingress(np)
	no_ingress_rules(np)
}

# An unset or empty podSelector selects every pod of the namespace.
selects_all(np) if {
	is_object(np.spec)
	empty_selector(object.get(np.spec, "podSelector", null))
}

empty_selector(s) if s == null

empty_selector(s) if {
	is_object(s)
	k8s.is_empty(object.get(s, "matchLabels", null))
	k8s.is_empty(object.get(s, "matchExpressions", null))
}

# Kubernetes sets policyTypes to [Ingress] (plus Egress with egress rules) when unset.
governs_ingress(np) if {
	is_array(np.spec.policyTypes)
	"Ingress" in np.spec.policyTypes
}

governs_ingress(np) if {
	is_object(np.spec)
	k8s.is_empty(object.get(np.spec, "policyTypes", null))
}

no_ingress_rules(np) if {
	is_object(np.spec)
	k8s.is_empty(object.get(np.spec, "ingress", null))
}
