package rollguard.k8s.network_policy_test

import data.rollguard.k8s.network_policy
import data.rollguard.lib.testing

labels := {"app.kubernetes.io/name": "checkout"}

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

netpol(name, spec) := {
	"apiVersion": "networking.k8s.io/v1",
	"kind": "NetworkPolicy",
	"metadata": {"name": name, "namespace": "shop"},
	"spec": spec,
}

default_deny := netpol("default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})

app_policy := netpol("checkout", {
	"podSelector": {"matchLabels": labels},
	"policyTypes": ["Ingress"],
	"ingress": [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "frontend"}}}]}],
})

judge(o, objs) := v if {
	v := network_policy.violation with input as testing.review_in("shop", o, {}) with data.inventory as testing.inventory(objs)
}

no_selection := {
	"msg": `no NetworkPolicy in namespace "shop" selects its pods`,
	"details": {"namespace": "shop", "pod_labels": labels, "case": "not_selected", "path": "spec.template.metadata.labels"},
}

no_default_deny := {
	"msg": `namespace "shop" has no default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no ingress rules)`,
	"details": {"namespace": "shop", "case": "no_default_deny", "path": "metadata.namespace"},
}

test_isolated_workload_passes if {
	count(judge(deployment, [default_deny, app_policy])) == 0
}

test_namespace_without_policies_reports_both if {
	judge(deployment, []) == {no_selection, no_default_deny}
}

test_app_policy_without_default_deny if {
	judge(deployment, [app_policy]) == {no_default_deny}
}

test_default_deny_alone_selects_every_pod if {
	count(judge(deployment, [default_deny])) == 0
}

test_policy_for_other_pods_does_not_select if {
	other := netpol("cart", {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "cart"}}, "policyTypes": ["Ingress"], "ingress": [{}]})
	judge(deployment, [other]) == {no_selection, no_default_deny}
}

test_match_expressions_select if {
	np := netpol("tier", {"podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "Exists"}]}, "ingress": [{}]})
	judge(deployment, [np]) == {no_default_deny}
}

test_policies_of_other_namespaces_do_not_count if {
	elsewhere := object.union(default_deny, {"metadata": {"namespace": "other"}})
	judge(deployment, [elsewhere]) == {no_selection, no_default_deny}
}

test_allow_all_ingress_is_not_default_deny if {
	allow_all := netpol("allow-all", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})
	judge(deployment, [allow_all]) == {no_default_deny}
}

test_egress_only_policy_is_not_default_deny_ingress if {
	egress := netpol("deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]})
	judge(deployment, [egress]) == {no_default_deny}
}

test_unset_policy_types_default_to_ingress if {
	count(judge(deployment, [netpol("deny", {"podSelector": {}})])) == 0
	count(judge(deployment, [netpol("deny", {"podSelector": {"matchLabels": {}}, "policyTypes": [], "ingress": []})])) == 0
}

test_pod_and_cronjob_are_judged if {
	pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop", "labels": labels}, "spec": {"containers": []}}
	judge(pod, [app_policy]) == {no_default_deny}
	cj := {
		"apiVersion": "batch/v1",
		"kind": "CronJob",
		"metadata": {"name": "c", "namespace": "shop"},
		"spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": []}}}}},
	}
	judge(cj, [app_policy]) == {no_default_deny}
	{x.details.path | some x in judge(pod, [])} == {"metadata.labels", "metadata.namespace"}
	{x.details.path | some x in judge(cj, [])} == {"spec.jobTemplate.spec.template.metadata.labels", "metadata.namespace"}
}

test_workload_ref_rollout_is_skipped if {
	ro := {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r", "namespace": "shop"}, "spec": {"workloadRef": {"kind": "Deployment", "name": "checkout"}}}
	count(judge(ro, [])) == 0
}

test_malformed_policies_do_not_error if {
	broken := [
		netpol("a", "everything"),
		netpol("b", {"podSelector": "all", "policyTypes": "Ingress"}),
		netpol("c", {"podSelector": {"matchLabels": "x"}, "ingress": 5}),
	]
	judge(deployment, broken) == {no_selection, no_default_deny}
}
