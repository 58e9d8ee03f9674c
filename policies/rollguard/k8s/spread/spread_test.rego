package rollguard.k8s.spread_test

import data.rollguard.k8s.spread
import data.rollguard.lib.testing

workload(kind, n, pod_spec) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"replicas": n, "template": {
		"metadata": {"labels": {"app": "web", "tier": "front"}},
		"spec": object.union({"containers": [{"name": "app", "image": "app:1"}]}, pod_spec),
	}},
}

selector := {"matchLabels": {"app": "web"}}

test_unspread_replicas_are_reported if {
	v := spread.violation with input as testing.review(workload("Deployment", 3, {}), {})
	v == {{
		"msg": "3 replicas have neither podAntiAffinity on kubernetes.io/hostname nor topologySpreadConstraints: one node drain can take them all down",
		"details": {
			"replicas": 3,
			"topology_key": "kubernetes.io/hostname",
			"case": "no_spread",
			"path": "spec.template.spec.topologySpreadConstraints",
		},
	}}
}

test_topology_spread_constraints_pass if {
	tsc := {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector}]}
	count(spread.violation) == 0 with input as testing.review(workload("Deployment", 3, tsc), {})
}

test_required_and_preferred_anti_affinity_on_hostname_pass if {
	required := {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname", "labelSelector": selector}]}}}
	count(spread.violation) == 0 with input as testing.review(workload("StatefulSet", 3, required), {})

	preferred := {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": selector}}]}}}
	count(spread.violation) == 0 with input as testing.review(workload("Rollout", 2, preferred), {})
}

test_anti_affinity_on_another_key_is_reported if {
	zone := {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "topology.kubernetes.io/zone", "labelSelector": selector}]}}}
	v := spread.violation with input as testing.review(workload("Deployment", 2, zone), {})
	{x.details | some x in v} == {{
		"replicas": 2,
		"topology_key": "kubernetes.io/hostname",
		"case": "no_spread",
		"path": "spec.template.spec.topologySpreadConstraints",
	}}

	affinity_only := {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname", "labelSelector": selector}]}}}
	count(spread.violation) == 1 with input as testing.review(workload("Deployment", 2, affinity_only), {})
}

test_single_replica_and_daemonsets_pass if {
	count(spread.violation) == 0 with input as testing.review(workload("Deployment", 1, {}), {})
	unset := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": []}}}}
	count(spread.violation) == 0 with input as testing.review(unset, {})
	count(spread.violation) == 0 with input as testing.review(workload("DaemonSet", 5, {}), {})
}

test_malformed_fields_raise_no_error if {
	every pod_spec in [
		{"topologySpreadConstraints": []},
		{"topologySpreadConstraints": "hostname"},
		{"topologySpreadConstraints": {"0": {"topologyKey": "kubernetes.io/hostname"}}},
		{"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"topologyKey": "kubernetes.io/hostname"}}}},
		{"affinity": "spread"},
	] {
		count(spread.violation) == 1 with input as testing.review(workload("Deployment", 2, pod_spec), {})
	}
}

required_term(term) := {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}

preferred_term(term) := {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}}}

hostname_term(label_selector) := {"topologyKey": "kubernetes.io/hostname", "labelSelector": label_selector}

test_anti_affinity_selecting_other_pods_is_reported if {
	other := {"matchLabels": {"app": "db"}}
	v := spread.violation with input as testing.review(workload("Deployment", 3, required_term(hostname_term(other))), {})
	v == {{
		"msg": "3 replicas have podAntiAffinity on kubernetes.io/hostname whose labelSelector does not select the pod's own labels (app=web, tier=front), and no topologySpreadConstraints: it keeps them away from other pods, not from each other, so one node drain can take them all down",
		"details": {
			"replicas": 3,
			"topology_key": "kubernetes.io/hostname",
			"anti_affinity": [{"field": "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]", "labelSelector": other}],
			"pod_labels": {"app": "web", "tier": "front"},
			"case": "anti_affinity_misses_own_pods",
			"path": "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector",
		},
	}}

	w := spread.violation with input as testing.review(workload("Rollout", 2, preferred_term(hostname_term(other))), {})
	{x.details.anti_affinity | some x in w} == {[{"field": "spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm", "labelSelector": other}]}
	{x.details.path | some x in w} == {"spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector"}
}

test_anti_affinity_match_expressions_follow_label_selector_semantics if {
	selecting := [
		{"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]},
		{"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]},
		{"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
		{"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]},
		{"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]},
		{},
		{"matchLabels": null, "matchExpressions": null},
	]
	every selector in selecting {
		count(spread.violation) == 0 with input as testing.review(workload("Deployment", 3, required_term(hostname_term(selector))), {})
	}

	not_selecting := [
		{"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]},
		{"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]},
		{"matchExpressions": [{"key": "canary", "operator": "Exists"}]},
		{"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
		{"matchLabels": {"app": "web", "tier": "back"}},
		{"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]},
	]
	every selector in not_selecting {
		v := spread.violation with input as testing.review(workload("Deployment", 3, required_term(hostname_term(selector))), {})
		{x.details.anti_affinity | some x in v} == {[{"field": "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]", "labelSelector": selector}]}
	}
}

test_anti_affinity_without_selector_or_excluding_own_value_selects_nothing if {
	# A missing labelSelector selects no pods at all.
	v := spread.violation with input as testing.review(workload("Deployment", 2, required_term({"topologyKey": "kubernetes.io/hostname"})), {})
	{x.details.anti_affinity | some x in v} == {[{"field": "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]", "labelSelector": null}]}

	# mismatchLabelKeys: pods whose value differs from this pod's, never its own replicas.
	mismatch := object.union(hostname_term(selector), {"mismatchLabelKeys": ["app"]})
	count(spread.violation) == 1 with input as testing.review(workload("Deployment", 2, required_term(mismatch)), {})
	match_keys := object.union(hostname_term(selector), {"matchLabelKeys": ["app"], "mismatchLabelKeys": ["absent"]})
	count(spread.violation) == 0 with input as testing.review(workload("Deployment", 2, required_term(match_keys)), {})
}

test_one_selecting_hostname_term_is_enough if {
	both := {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
		hostname_term({"matchLabels": {"app": "db"}}),
		hostname_term(selector),
	]}}}
	count(spread.violation) == 0 with input as testing.review(workload("Deployment", 3, both), {})

	# topologySpreadConstraints spread the replicas whatever the anti-affinity selects.
	with_tsc := object.union(required_term(hostname_term({"matchLabels": {"app": "db"}})), {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector}]})
	count(spread.violation) == 0 with input as testing.review(workload("Deployment", 3, with_tsc), {})
}

test_pod_without_labels_is_named_so if {
	obj := json.patch(workload("StatefulSet", 2, required_term(hostname_term(selector))), [{"op": "remove", "path": "/spec/template/metadata"}])
	v := spread.violation with input as testing.review(obj, {})
	{x.msg | some x in v} == {"2 replicas have podAntiAffinity on kubernetes.io/hostname whose labelSelector does not select the pod's own labels (no labels), and no topologySpreadConstraints: it keeps them away from other pods, not from each other, so one node drain can take them all down"}
}

test_any_non_empty_constraint_list_counts if {
	# The API server validates the entries; the policy only asks for a list with one.
	every constraints in [[null], [false], [{}]] {
		count(spread.violation) == 0 with input as testing.review(workload("Deployment", 2, {"topologySpreadConstraints": constraints}), {})
	}
}
