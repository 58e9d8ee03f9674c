package rollguard.k8s.rolling_update_test

import data.rollguard.k8s.rolling_update
import data.rollguard.lib.testing

params := {"allow_recreate": false, "min_available_percent": 75}

workload(kind, spec) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": object.union({"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}, spec),
}

create := {"operation": "CREATE"}

rolling(n, surge, unavailable) := workload("Deployment", {
	"replicas": n,
	"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
})

test_surge_one_unavailable_zero_passes if {
	count(rolling_update.violation) == 0 with input as testing.request(rolling(3, 1, 0), create, params)
}

test_defaults_keep_at_least_75_percent if {
	every n in [1, 2, 3, 4, 5, 7, 10, 101] {
		count(rolling_update.violation) == 0 with input as testing.request(workload("Deployment", {"replicas": n}), create, params)
	}
}

test_unset_replicas_default_to_one if {
	count(rolling_update.violation) == 0 with input as testing.request(workload("Deployment", {}), create, params)
}

test_recreate_is_reported if {
	obj := workload("Deployment", {"replicas": 3, "strategy": {"type": "Recreate"}})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	v == {{
		"msg": "strategy type Recreate stops every old pod before a new one starts, so each rollout is an outage",
		"details": {"strategy": "Recreate", "case": "recreate", "path": "spec.strategy.type"},
	}}
}

test_recreate_allowed_by_parameter if {
	obj := workload("Deployment", {"replicas": 3, "strategy": {"type": "Recreate"}})
	inp := object.union(testing.request(obj, create, params), {"parameters": {"allow_recreate": true}})
	count(rolling_update.violation) == 0 with input as inp
}

test_deploymentconfig_recreate_is_reported if {
	obj := object.union(workload("DeploymentConfig", {"replicas": 3, "strategy": {"type": "Recreate"}}), {"apiVersion": "apps.openshift.io/v1"})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	{x.details | some x in v} == {{"strategy": "Recreate", "case": "recreate", "path": "spec.strategy.type"}}
}

test_on_delete_is_reported_for_statefulsets_and_daemonsets if {
	every kind in ["StatefulSet", "DaemonSet"] {
		v := rolling_update.violation with input as testing.request(workload(kind, {"updateStrategy": {"type": "OnDelete"}}), create, params)
		v == {{
			"msg": "updateStrategy type OnDelete never rolls out a template change: old pods keep running until someone deletes them",
			"details": {"update_strategy": "OnDelete", "case": "on_delete", "path": "spec.updateStrategy.type"},
		}}
	}
}

test_statefulset_rolling_update_passes if {
	obj := workload("StatefulSet", {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}})
	count(rolling_update.violation) == 0 with input as testing.request(obj, create, params)
}

test_both_zero_is_reported if {
	v := rolling_update.violation with input as testing.request(rolling(3, 0, 0), create, params)
	v == {{
		"msg": "maxSurge 0 and maxUnavailable 0 both resolve to 0 for 3 replicas, so the rollout has no room to replace a pod",
		"details": {
			"replicas": 3,
			"max_surge": 0,
			"max_unavailable": 0,
			"resolved_max_surge": 0,
			"resolved_max_unavailable": 0,
			"case": "no_room",
			"path": "spec.strategy.rollingUpdate.maxSurge",
		},
	}}
}

test_percentage_rounding_down_to_zero_is_reported_as_both_zero if {
	# 20% of 3 is 0.6, rounded down to 0.
	v := rolling_update.violation with input as testing.request(rolling(3, "0%", "20%"), create, params)
	v == {{
		"msg": "maxSurge 0% and maxUnavailable 20% both resolve to 0 for 3 replicas, so the rollout has no room to replace a pod",
		"details": {
			"replicas": 3,
			"max_surge": "0%",
			"max_unavailable": "20%",
			"resolved_max_surge": 0,
			"resolved_max_unavailable": 0,
			"case": "no_room",
			"path": "spec.strategy.rollingUpdate.maxSurge",
		},
	}}
}

test_too_many_unavailable_is_reported_with_numbers if {
	v := rolling_update.violation with input as testing.request(rolling(3, 1, 1), create, params)
	v == {{
		"msg": "a rolling update keeps only 2 of 3 replicas available (66%), below the minimum of 75%",
		"details": {
			"replicas": 3,
			"max_surge": 1,
			"max_unavailable": 1,
			"resolved_max_surge": 1,
			"resolved_max_unavailable": 1,
			"available": 2,
			"available_percent": 66,
			"min_available_percent": 75,
			"case": "too_many_unavailable",
			"path": "spec.strategy.rollingUpdate.maxUnavailable",
		},
	}}
}

test_percentages_round_surge_up_and_unavailable_down if {
	# 25% of 10 is 2.5: unavailable rounds down to 2 (80% available), surge up to 3.
	count(rolling_update.violation) == 0 with input as testing.request(rolling(10, "25%", "25%"), create, params)

	v := rolling_update.violation with input as testing.request(rolling(10, "10%", "30%"), create, params)
	v == {{
		"msg": "a rolling update keeps only 7 of 10 replicas available (70%), below the minimum of 75%",
		"details": {
			"replicas": 10,
			"max_surge": "10%",
			"max_unavailable": "30%",
			"resolved_max_surge": 1,
			"resolved_max_unavailable": 3,
			"available": 7,
			"available_percent": 70,
			"min_available_percent": 75,
			"case": "too_many_unavailable",
			"path": "spec.strategy.rollingUpdate.maxUnavailable",
		},
	}}
}

test_unavailable_is_capped_at_replicas if {
	obj := workload("Deployment", {"replicas": 2, "strategy": {"rollingUpdate": {"maxUnavailable": 5}}})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	v == {{
		"msg": "a rolling update keeps only 0 of 2 replicas available (0%), below the minimum of 75%",
		"details": {
			"replicas": 2,
			"max_surge": "25%",
			"max_unavailable": 5,
			"resolved_max_surge": 1,
			"resolved_max_unavailable": 2,
			"available": 0,
			"available_percent": 0,
			"min_available_percent": 75,
			"case": "too_many_unavailable",
			"path": "spec.strategy.rollingUpdate.maxUnavailable",
		},
	}}
}

test_min_available_percent_parameter if {
	inp := object.union(testing.request(rolling(3, 1, 1), create, params), {"parameters": {"min_available_percent": 60}})
	count(rolling_update.violation) == 0 with input as inp

	strict := object.union(testing.request(rolling(4, 1, 0), create, params), {"parameters": {"min_available_percent": 100}})
	count(rolling_update.violation) == 0 with input as strict
}

test_missing_parameters_fall_back_to_defaults if {
	v := rolling_update.violation with input as {"review": {"object": rolling(3, 1, 1), "kind": {"kind": "Deployment"}}}
	{x.details.min_available_percent | some x in v} == {75}
}

test_malformed_values_raise_no_error if {
	every spec in [
		{"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": "abc", "maxUnavailable": true}}},
		{"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": -1, "maxUnavailable": 1.5}}},
		{"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": "12.5%", "maxUnavailable": "x%"}}},
		{"replicas": 3, "strategy": "RollingUpdate"},
		{"replicas": "3", "strategy": {"rollingUpdate": null}},
		{"replicas": 2.5},
		{"replicas": 0, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}},
	] {
		count(rolling_update.violation) == 0 with input as testing.request(workload("Deployment", spec), create, params)
	}
}

test_null_rolling_update_uses_defaults if {
	obj := workload("Deployment", {"replicas": 4, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": null, "maxUnavailable": null}}})
	count(rolling_update.violation) == 0 with input as testing.request(obj, create, params)
}

test_replica_based_canary_is_judged if {
	obj := object.union(
		workload("Rollout", {"replicas": 4, "strategy": {"canary": {"maxSurge": 0, "maxUnavailable": 2}}}),
		{"apiVersion": "argoproj.io/v1alpha1"},
	)
	v := rolling_update.violation with input as testing.request(obj, create, params)
	v == {{
		"msg": "a rolling update keeps only 2 of 4 replicas available (50%), below the minimum of 75%",
		"details": {
			"replicas": 4,
			"max_surge": 0,
			"max_unavailable": 2,
			"resolved_max_surge": 0,
			"resolved_max_unavailable": 2,
			"available": 2,
			"available_percent": 50,
			"min_available_percent": 75,
			"case": "too_many_unavailable",
			"path": "spec.strategy.canary.maxUnavailable",
		},
	}}
}

test_traffic_routed_canary_and_blue_green_are_not_judged if {
	routed := workload("Rollout", {"replicas": 4, "strategy": {"canary": {
		"maxUnavailable": 2,
		"trafficRouting": {"nginx": {"stableIngress": "web"}},
	}}})
	count(rolling_update.violation) == 0 with input as testing.request(routed, create, params)

	blue_green := workload("Rollout", {"replicas": 4, "strategy": {"blueGreen": {"activeService": "web"}}})
	count(rolling_update.violation) == 0 with input as testing.request(blue_green, create, params)
}

test_deploymentconfig_rolling_params if {
	obj := workload("DeploymentConfig", {"replicas": 2, "strategy": {"type": "Rolling", "rollingParams": {"maxSurge": 0, "maxUnavailable": "50%"}}})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	{[x.details.available_percent, x.details.path] | some x in v} == {[50, "spec.strategy.rollingParams.maxUnavailable"]}
}

test_daemonset_defaults_pass if {
	count(rolling_update.violation) == 0 with input as testing.request(workload("DaemonSet", {}), create, params)
	absolute := workload("DaemonSet", {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 3}}})
	count(rolling_update.violation) == 0 with input as testing.request(absolute, create, params)
}

test_daemonset_both_zero_is_reported if {
	obj := workload("DaemonSet", {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": 0}}})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	v == {{
		"msg": "maxSurge 0% and maxUnavailable 0 are both 0, so the rollout has no room to replace a pod",
		"details": {
			"max_surge": "0%",
			"max_unavailable": 0,
			"case": "daemonset_no_room",
			"path": "spec.updateStrategy.rollingUpdate.maxUnavailable",
		},
	}}
}

test_daemonset_percentage_unavailable_is_reported if {
	obj := workload("DaemonSet", {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "50%"}}})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	v == {{
		"msg": "maxUnavailable 50% keeps at most 50% of the DaemonSet's pods available during a rollout, below the minimum of 75%",
		"details": {
			"max_unavailable": "50%",
			"available_percent_at_most": 50,
			"min_available_percent": 75,
			"case": "daemonset_too_many_unavailable",
			"path": "spec.updateStrategy.rollingUpdate.maxUnavailable",
		},
	}}

	ok := workload("DaemonSet", {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "25%"}}})
	count(rolling_update.violation) == 0 with input as testing.request(ok, create, params)
}

test_unknown_deployment_strategy_type_is_reported if {
	v := rolling_update.violation with input as testing.request(workload("Deployment", {"replicas": 3, "strategy": {"type": "Rolling"}}), create, params)
	v == {{
		"msg": `spec.strategy.type "Rolling" is not a Deployment update strategy (Recreate or RollingUpdate): the API server rejects the Deployment, so the rollout fails at the apply step`,
		"details": {
			"field": "spec.strategy.type",
			"type": "Rolling",
			"valid": ["Recreate", "RollingUpdate"],
			"case": "unknown_type",
			"path": "spec.strategy.type",
		},
	}}

	# The field is case-sensitive.
	w := rolling_update.violation with input as testing.request(workload("Deployment", {"replicas": 3, "strategy": {"type": "rollingUpdate"}}), create, params)
	{x.details.type | some x in w} == {"rollingUpdate"}
}

test_unknown_update_strategy_type_is_reported_for_statefulsets_and_daemonsets if {
	every kind in ["StatefulSet", "DaemonSet"] {
		v := rolling_update.violation with input as testing.request(workload(kind, {"replicas": 3, "updateStrategy": {"type": "Recreate"}}), create, params)
		v == {{
			"msg": sprintf(`spec.updateStrategy.type "Recreate" is not a %s update strategy (OnDelete or RollingUpdate): the API server rejects the %s, so the rollout fails at the apply step`, [kind, kind]),
			"details": {
				"field": "spec.updateStrategy.type",
				"type": "Recreate",
				"valid": ["OnDelete", "RollingUpdate"],
				"case": "unknown_type",
				"path": "spec.updateStrategy.type",
			},
		}}
	}
}

test_unknown_deploymentconfig_strategy_type_is_reported if {
	obj := object.union(workload("DeploymentConfig", {"replicas": 3, "strategy": {"type": "RollingUpdate"}}), {"apiVersion": "apps.openshift.io/v1"})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	{x.details | some x in v} == {{
		"field": "spec.strategy.type",
		"type": "RollingUpdate",
		"valid": ["Custom", "Recreate", "Rolling"],
		"case": "unknown_type",
		"path": "spec.strategy.type",
	}}

	custom := object.union(workload("DeploymentConfig", {"replicas": 3, "strategy": {"type": "Custom"}}), {"apiVersion": "apps.openshift.io/v1"})
	count(rolling_update.violation) == 0 with input as testing.request(custom, create, params)
}

test_unset_empty_and_valid_strategy_types_pass_the_type_check if {
	every spec in [{"strategy": {}}, {"strategy": {"type": ""}}, {"strategy": {"type": null}}, {"strategy": null}] {
		count(rolling_update.violation) == 0 with input as testing.request(workload("Deployment", object.union({"replicas": 4}, spec)), create, params)
	}
	every spec in [{"updateStrategy": {"type": ""}}, {}, {"updateStrategy": {"type": "RollingUpdate"}}] {
		count(rolling_update.violation) == 0 with input as testing.request(workload("StatefulSet", object.union({"replicas": 3}, spec)), create, params)
	}
}

test_non_string_strategy_type_is_reported if {
	v := rolling_update.violation with input as testing.request(workload("DaemonSet", {"updateStrategy": {"type": 1}}), create, params)
	{x.msg | some x in v} == {"spec.updateStrategy.type 1 is not a DaemonSet update strategy (OnDelete or RollingUpdate): the API server rejects the DaemonSet, so the rollout fails at the apply step"}
}

recreate_with(replicas, pod_spec) := workload("Deployment", object.union(
	{"strategy": {"type": "Recreate"}, "template": {"spec": pod_spec}},
	replicas,
))

claim_volume(name) := {"name": "data", "persistentVolumeClaim": {"claimName": name}}

app := {"name": "app", "image": "app:1"}

test_single_replica_with_a_claim_is_reported_low_as_required if {
	# replicas unset: Kubernetes' default of 1.
	obj := recreate_with({}, {"containers": [app], "volumes": [claim_volume("minio-pv-claim")]})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	v == {{
		"msg": `strategy type Recreate with a single replica that holds PersistentVolumeClaim "minio-pv-claim": a new pod could not attach a ReadWriteOnce volume or bind a host port the old one holds, so Recreate is the strategy that works; each rollout is still a short outage`,
		"details": {
			"strategy": "Recreate",
			"case": "recreate_required",
			"replicas": 1,
			"claims": ["minio-pv-claim"],
			"host_ports": [],
			"path": "spec.strategy.type",
		},
	}}
}

test_single_replica_with_host_ports_is_reported_low_as_required if {
	ported := object.union(app, {"ports": [{"containerPort": 9000, "hostPort": 9000}, {"containerPort": 8080}]})
	obj := recreate_with({"replicas": 1}, {"containers": [ported], "volumes": [claim_volume("b"), claim_volume("a")]})
	v := rolling_update.violation with input as testing.request(obj, create, params)
	v == {{
		"msg": `strategy type Recreate with a single replica that holds PersistentVolumeClaims "a", "b" and hostPort 9000: a new pod could not attach a ReadWriteOnce volume or bind a host port the old one holds, so Recreate is the strategy that works; each rollout is still a short outage`,
		"details": {
			"strategy": "Recreate",
			"case": "recreate_required",
			"replicas": 1,
			"claims": ["a", "b"],
			"host_ports": [9000],
			"path": "spec.strategy.type",
		},
	}}

	# Under hostNetwork every container port is a host port.
	host := recreate_with({"replicas": 1}, {"hostNetwork": true, "containers": [object.union(app, {"ports": [{"containerPort": 53}, {"containerPort": 9153}]})]})
	w := rolling_update.violation with input as testing.request(host, create, params)
	{x.details.host_ports | some x in w} == {[53, 9153]}
	{x.details.case | some x in w} == {"recreate_required"}
}

test_recreate_without_a_reason_stays_high if {
	# Several replicas, or nothing two pods cannot share: Recreate is an avoidable outage.
	every obj in [
		recreate_with({"replicas": 2}, {"containers": [app], "volumes": [claim_volume("data")]}),
		recreate_with({}, {"containers": [object.union(app, {"ports": [{"containerPort": 8080}]})]}),
		recreate_with({}, {"containers": [app], "volumes": [
			{"name": "cache", "emptyDir": {}},
			{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
			{"name": "odd", "persistentVolumeClaim": {"claimName": ""}},
			"junk",
		]}),
		recreate_with({}, {"containers": [app], "volumes": "data"}),
	] {
		v := rolling_update.violation with input as testing.request(obj, create, params)
		v == {{
			"msg": "strategy type Recreate stops every old pod before a new one starts, so each rollout is an outage",
			"details": {"strategy": "Recreate", "case": "recreate", "path": "spec.strategy.type"},
		}}
	}
}

test_required_recreate_for_deploymentconfigs_and_allow_recreate if {
	dc := object.union(
		workload("DeploymentConfig", {"replicas": 1, "strategy": {"type": "Recreate"}, "template": {"spec": {"volumes": [claim_volume("data")]}}}),
		{"apiVersion": "apps.openshift.io/v1"},
	)
	v := rolling_update.violation with input as testing.request(dc, create, params)
	{x.details.claims | some x in v} == {["data"]}

	obj := recreate_with({}, {"containers": [app], "volumes": [claim_volume("data")]})
	inp := object.union(testing.request(obj, create, params), {"parameters": {"allow_recreate": true}})
	count(rolling_update.violation) == 0 with input as inp
}

test_malformed_values_are_not_reported_whatever_their_arithmetic if {
	# Each would have no room or too few available replicas if its values were taken as numbers.
	every spec in [
		{"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": -1, "maxUnavailable": 1}}},
		{"replicas": 4, "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "3"}}},
		{"replicas": 4, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 2.5}}},
		{"replicas": 2.5, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}},
		{"replicas": -2, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}},
	] {
		count(rolling_update.violation) == 0 with input as testing.request(workload("Deployment", spec), create, params)
	}
}

test_null_settings_are_the_defaults_in_findings if {
	obj := workload("Deployment", {"replicas": 4, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": null, "maxUnavailable": null}}})
	v := rolling_update.violation with input as testing.request(obj, create, {"allow_recreate": false, "min_available_percent": 90})
	{x.details | some x in v} == {{
		"replicas": 4,
		"max_surge": "25%",
		"max_unavailable": "25%",
		"resolved_max_surge": 1,
		"resolved_max_unavailable": 1,
		"available": 3,
		"available_percent": 75,
		"min_available_percent": 90,
		"case": "too_many_unavailable",
		"path": "spec.strategy.rollingUpdate.maxUnavailable",
	}}
}

# maxUnavailable 0 with surge pods skips the plan (rollout_cleared); a minimum above 100% must
# still find the replicas too few, as the plan does for maxUnavailable "0%".
test_a_minimum_above_100_percent_is_reported_with_unavailable_zero if {
	every unavailable in [0, "0%"] {
		inp := object.union(testing.request(rolling(3, 1, unavailable), create, params), {"parameters": {"min_available_percent": 110}})
		v := rolling_update.violation with input as inp
		v == {{
			"msg": "a rolling update keeps only 3 of 3 replicas available (100%), below the minimum of 110%",
			"details": {
				"replicas": 3,
				"max_surge": 1,
				"max_unavailable": unavailable,
				"resolved_max_surge": 1,
				"resolved_max_unavailable": 0,
				"available": 3,
				"available_percent": 100,
				"min_available_percent": 110,
				"case": "too_many_unavailable",
				"path": "spec.strategy.rollingUpdate.maxUnavailable",
			},
		}}
	}
}

test_unavailable_zero_with_surge_passes_for_any_replica_count if {
	every n in [0, 1, 2.5, -1, 1000] {
		count(rolling_update.violation) == 0 with input as testing.request(rolling(n, 2, 0), create, params)
	}
	count(rolling_update.violation) == 0 with input as testing.request(rolling(3, 0.5, 0), create, params)
}

# Only a Deployment reads spec.strategy.rollingUpdate: a Rollout's canary settings are judged
# whatever that field says.
test_a_canary_is_judged_beside_a_stray_rolling_update if {
	obj := object.union(
		workload("Rollout", {"replicas": 4, "strategy": {
			"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
			"canary": {"maxSurge": 0, "maxUnavailable": 0},
		}}),
		{"apiVersion": "argoproj.io/v1alpha1"},
	)
	v := rolling_update.violation with input as testing.request(obj, create, params)
	{x.details.case | some x in v} == {"no_room"}
}
