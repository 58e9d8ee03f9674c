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

# A namespace with a default deny isolates every pod, so both findings start from it: one
# look at the namespace's policies settles a compliant workload. Argo Rollouts with a
# workloadRef have no template of their own, so no pod spec to judge.
violation contains v if {
	not namespace_denies_ingress
	is_object(k8s.obj_pod_spec)
	some v in exposure
}

exposure contains {"msg": msg, "details": d} if {
	not selected
	d := {
		"namespace": k8s.namespace,
		"pod_labels": k8s.obj_pod_labels,
		"case": "not_selected",
		"path": sprintf("%s.labels", [k8s.obj_pod_metadata_path]),
	}
	msg := sprintf("no NetworkPolicy in namespace %q selects its pods", [k8s.namespace])
}

exposure contains {"msg": msg, "details": {"namespace": k8s.namespace, "case": "no_default_deny", "path": "metadata.namespace"}} if {
	msg := sprintf("namespace %q has no default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no ingress rules)", [k8s.namespace])
}

# Whether a NetworkPolicy of the namespace selects the pods, asked only when the namespace has
# no default deny: the candidates of k8s.selector_candidates, those without a label pair
# (perhaps selecting every pod) first.
selected if {
	some np in unindexed
	selects_all(np)
}

selected if {
	indexed
	some k, v in k8s.obj_pod_labels
	some [api, name] in index.by_label[k][v]
	k8s.selector_matches(data.inventory.namespace[k8s.namespace][api].NetworkPolicy[name].spec.podSelector, k8s.obj_pod_labels)
}

selected if {
	some np in unindexed
	k8s.selector_matches(np.spec.podSelector, k8s.obj_pod_labels)
}

# NetworkPolicies of the namespace whose selector has no label pair to index it by (an empty
# one, which selects every pod, among them); without rollguard's index (Gatekeeper), all.
unindexed := [data.inventory.namespace[k8s.namespace][api].NetworkPolicy[name] | some [api, name] in index.unindexed] if {
	indexed
} else := k8s.inventory(k8s.namespace, "NetworkPolicy")

# rollguard's index of the namespace's NetworkPolicy selectors; Gatekeeper has none. A rule
# to negate: on OPA, `not is_object(x)` with x undefined is not true.
index := data.inventory.rollguard_selectors[k8s.namespace].NetworkPolicy

indexed if is_object(index)

# Policies selecting every pod have no label pair, so they are among the unindexed; looked up
# one by one rather than through `unindexed`, which a namespace with a default deny never needs.
# The usual default deny, spelt as the finding's message spells it, is recognised in the
# first rule by one comparison instead of the function calls of the general one.
namespace_denies_ingress if {
	ns := k8s.namespace
	some [api, name] in data.inventory.rollguard_selectors[ns].NetworkPolicy.unindexed
	data.inventory.namespace[ns][api].NetworkPolicy[name].spec == {"podSelector": {}, "policyTypes": ["Ingress"]}
}

namespace_denies_ingress if {
	some [api, name] in index.unindexed
	denies_ingress(data.inventory.namespace[k8s.namespace][api].NetworkPolicy[name])
}

namespace_denies_ingress if {
	not indexed
	some np in k8s.inventory(k8s.namespace, "NetworkPolicy")
	denies_ingress(np)
}

# Selects every pod, governs ingress and allows none. selects_all holds only for an object spec.
denies_ingress(np) if {
	selects_all(np)
	object.get(np.spec, "ingress", null) in {null, {}, []}
	governs_ingress(np)
}

# An unset or empty podSelector selects every pod of the namespace (`podSelector: {}` the
# usual spelling, tried first).
selects_all(np) if np.spec.podSelector == {}

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
