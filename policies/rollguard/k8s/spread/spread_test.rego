package rollguard.k8s.spread_test

import data.rollguard.k8s.spread

workload(kind, n, pod_spec) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"replicas": n, "template": {"spec": object.union({"containers": [{"name": "app", "image": "app:1"}]}, pod_spec)}},
}

review(obj) := {"review": {"object": obj, "kind": {"kind": obj.kind}}, "parameters": {}}

selector := {"matchLabels": {"app": "web"}}

test_unspread_replicas_are_reported if {
	v := spread.violation with input as review(workload("Deployment", 3, {}))
	v == {{
		"msg": "3 replicas have neither podAntiAffinity on kubernetes.io/hostname nor topologySpreadConstraints: one node drain can take them all down",
		"details": {"replicas": 3, "topology_key": "kubernetes.io/hostname"},
	}}
}

test_topology_spread_constraints_pass if {
	tsc := {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector}]}
	count(spread.violation) == 0 with input as review(workload("Deployment", 3, tsc))
}

test_required_and_preferred_anti_affinity_on_hostname_pass if {
	required := {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname", "labelSelector": selector}]}}}
	count(spread.violation) == 0 with input as review(workload("StatefulSet", 3, required))

	preferred := {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": selector}}]}}}
	count(spread.violation) == 0 with input as review(workload("Rollout", 2, preferred))
}

test_anti_affinity_on_another_key_is_reported if {
	zone := {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "topology.kubernetes.io/zone", "labelSelector": selector}]}}}
	v := spread.violation with input as review(workload("Deployment", 2, zone))
	{x.details | some x in v} == {{"replicas": 2, "topology_key": "kubernetes.io/hostname"}}

	affinity_only := {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname", "labelSelector": selector}]}}}
	count(spread.violation) == 1 with input as review(workload("Deployment", 2, affinity_only))
}

test_single_replica_and_daemonsets_pass if {
	count(spread.violation) == 0 with input as review(workload("Deployment", 1, {}))
	unset := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": []}}}}
	count(spread.violation) == 0 with input as review(unset)
	count(spread.violation) == 0 with input as review(workload("DaemonSet", 5, {}))
}

test_malformed_fields_raise_no_error if {
	every pod_spec in [
		{"topologySpreadConstraints": []},
		{"topologySpreadConstraints": "hostname"},
		{"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"topologyKey": "kubernetes.io/hostname"}}}},
		{"affinity": "spread"},
	] {
		count(spread.violation) == 1 with input as review(workload("Deployment", 2, pod_spec))
	}
}
