package rollguard.k8s.quota_headroom_test

import data.rollguard.k8s.quota_headroom
import data.rollguard.lib.testing

deployment(name, replicas) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": name, "namespace": "shop"},
	"spec": {
		"replicas": replicas,
		"selector": {"matchLabels": {"app": name}},
		"template": {
			"metadata": {"labels": {"app": name}},
			"spec": {"containers": [{"name": name, "image": "app:1", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]},
		},
	},
}

# The part of a workload's simulation the policy reads (docs/simulation.md): 500m and 256Mi a pod.
simulation(name, replicas, peak) := {
	"kind": "Deployment",
	"namespace": "shop",
	"name": name,
	"replicas": replicas,
	"peak_pods_with_terminating": peak,
	"pod_requests": {"cpu": 0.5, "memory": 268435456},
	"pod_limits": {"cpu": 0.0, "memory": 0},
	"peak_requests": {"cpu": 0.5 * peak, "memory": 268435456 * peak},
	"peak_limits": {"cpu": 0.0, "memory": 0},
}

quota(name, hard) := {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "shop"}, "spec": {"hard": hard}}

pod(name, labels, cpu, phase) := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": name, "namespace": "shop", "labels": labels},
	"spec": {"containers": [{"name": "c", "image": "app:1", "resources": {"requests": {"cpu": cpu}}}]},
	"status": {"phase": phase},
}

judged(obj, sim) := object.union(testing.review_in("shop", obj, {}), {"simulation": sim})

web := deployment("web", 3)

web_sim := simulation("web", 3, 5)

test_quota_with_room_for_the_peak_passes if {
	inventory := testing.inventory([web, quota("compute", {"requests.cpu": "2.5", "pods": "5"})])
	count(quota_headroom.violation) == 0 with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim]
}

test_peak_above_the_quota_is_reported if {
	inventory := testing.inventory([web, quota("compute", {"requests.cpu": "2", "requests.memory": "2Gi"})])
	v := quota_headroom.violation with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim]
	v == {{
		"msg": "at the peak of the rollout namespace shop needs 2.5 CPU of requests.cpu (0 CPU for 0 running pods, 2.5 CPU for Deployment/web at their peak), more than ResourceQuota compute allows (2 CPU): new pods are refused with \"exceeded quota\" and the rollout stalls",
		"details": {
			"case": "no_room_for_surge",
			"namespace": "shop",
			"quota": "compute",
			"resource": "requests.cpu",
			"hard": "2 CPU",
			"reserve_percent": 0,
			"running": "0 CPU",
			"running_pods": 0,
			"running_from": "none",
			"peak": "2.5 CPU",
			"need": "2.5 CPU",
			"workloads": ["Deployment/web"],
			"path": "spec.strategy",
		},
	}}
}

test_running_pods_count_but_the_rolled_workloads_own_do_not if {
	others := pod("batch-1", {"app": "batch"}, "1", "Running")
	done := pod("batch-0", {"app": "batch"}, "4", "Succeeded")
	old := pod("web-old-1", {"app": "web"}, "500m", "Running")
	inventory := testing.inventory([web, others, done, old, quota("compute", {"cpu": "3", "pods": "6"})])
	v := quota_headroom.violation with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim]
	# 1 CPU and 1 pod running besides web's own: 3.5 CPU is over, 6 pods just fit.
	{[f.details.resource, f.details.running, f.details.running_pods, f.details.need] | some f in v} == {["cpu", "1 CPU", 1, "3.5 CPU"]}
}

test_workloads_rolled_together_are_summed if {
	api := deployment("api", 2)
	api_sim := simulation("api", 2, 3)
	inventory := testing.inventory([web, api, quota("compute", {"requests.memory": "2000Mi"})])
	v := quota_headroom.violation with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim, api_sim, object.union(api_sim, {"namespace": "other"})]
	some f in v
	f.details.need == "2048Mi"
	f.details.workloads == ["Deployment/web", "Deployment/api"]
	f.msg == "at the peak of the rollout namespace shop needs 2048Mi of requests.memory (0Mi for 0 running pods, 2048Mi for Deployment/web, Deployment/api at their peak), more than ResourceQuota compute allows (2000Mi): new pods are refused with \"exceeded quota\" and the rollout stalls"
}

test_a_quota_exceeded_at_rest_says_so if {
	inventory := testing.inventory([web, quota("compute", {"count/pods": "2"})])
	v := quota_headroom.violation with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim]
	v == {{
		"msg": "namespace shop needs more count/pods than ResourceQuota compute allows (2 pods) even before the rollout, and 5 pods at its peak (0 pods for 0 running pods, 5 pods for Deployment/web): new pods are refused with \"exceeded quota\"",
		"details": {
			"case": "over_at_rest",
			"namespace": "shop",
			"quota": "compute",
			"resource": "count/pods",
			"hard": "2 pods",
			"reserve_percent": 0,
			"running": "0 pods",
			"running_pods": 0,
			"running_from": "none",
			"peak": "5 pods",
			"need": "5 pods",
			"workloads": ["Deployment/web"],
			"path": "spec.strategy",
		},
	}}
}

test_reserve_percent_keeps_part_of_the_quota_free if {
	inventory := testing.inventory([web, quota("compute", {"pods": "6"})])
	count(quota_headroom.violation) == 0 with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim]
	v := quota_headroom.violation with input as object.union(judged(web, web_sim), {"parameters": {"reserve_percent": 25}})
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim]
	some f in v
	f.details.reserve_percent == 25
	contains(f.msg, "more than ResourceQuota compute allows (6 pods, 25% of it kept free)")
}

test_scoped_quotas_and_other_resources_are_left_alone if {
	scoped := object.union(quota("best-effort", {"pods": "1"}), {"spec": {"scopes": ["BestEffort"]}})
	selected := object.union(quota("high", {"pods": "1"}), {"spec": {"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}})
	storage := quota("storage", {"requests.storage": "1Gi", "count/deployments.apps": "1"})
	inventory := testing.inventory([web, scoped, selected, storage])
	count(quota_headroom.violation) == 0 with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim]
}

test_the_webhook_judges_the_workload_under_review_alone if {
	# No change set: the object under review, its simulation, and the cluster's pods and quota.
	old := pod("web-old-1", {"app": "web"}, "500m", "Running")
	others := pod("batch-1", {"app": "batch"}, "1", "Running")
	inventory := testing.inventory([old, others, quota("compute", {"requests.cpu": "3"})])
	v := quota_headroom.violation with input as judged(web, web_sim) with data.inventory as inventory
	some f in v
	f.details.running == "1 CPU"
	f.details.need == "3.5 CPU"
	f.details.workloads == ["Deployment/web"]
}

test_without_a_simulation_nothing_is_judged if {
	inventory := testing.inventory([web, quota("compute", {"pods": "1"})])
	count(quota_headroom.violation) == 0 with input as testing.review_in("shop", web, {}) with data.inventory as inventory
}

# A quota of ReplicaSets as the cluster lists it, with how many exist.
counted(used) := object.union(quota("objects", {"count/replicasets.apps": "10"}), {"status": {"used": {"count/replicasets.apps": used}}})

test_a_quota_full_of_replica_sets_leaves_no_room_for_the_new_one if {
	count(quota_headroom.violation) == 0 with input as judged(web, web_sim) with data.inventory as testing.inventory([web, counted("9")])
	v := quota_headroom.violation with input as judged(web, web_sim) with data.inventory as testing.inventory([web, counted("10")])
	v == {{
		"msg": "namespace shop already has 10 of the 10 replicasets that ResourceQuota objects allows, and the rollout of Deployment/web creates 1 more: the new one is refused with \"exceeded quota\" and the rollout does not start",
		"details": {
			"case": "no_room_for_new_revision",
			"namespace": "shop",
			"quota": "objects",
			"resource": "count/replicasets.apps",
			"hard": 10,
			"used": 10,
			"adds": 1,
			"need": 11,
			"workloads": ["Deployment/web"],
			"path": "spec.revisionHistoryLimit",
		},
	}}

	# Without the status (a quota from the files, not the cluster) the count is unknown: left alone.
	count(quota_headroom.violation) == 0 with input as judged(web, web_sim)
		with data.inventory as testing.inventory([web, quota("objects", {"count/replicasets.apps": "0"})])
}

# A quota as the cluster lists it, with what its namespace uses now.
used_quota(hard, used) := object.union(quota("compute", hard), {"status": {"hard": hard, "used": used}})

test_without_pods_the_quota_status_gives_what_runs if {
	# 3.5 CPU used, of which web's own 3 pods hold 1.5: 2 CPU for other pods, and web's peak
	# (5 pods, 2.5 CPU) makes 4.5, over the 4 allowed.
	inventory := testing.inventory([web, used_quota({"requests.cpu": "4"}, {"requests.cpu": "3500m"})])
	v := quota_headroom.violation with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim]
	[f.msg | some f in v] == ["at the peak of the rollout namespace shop needs 4.5 CPU of requests.cpu (2 CPU in use by other pods, by the quota's status, 2.5 CPU for Deployment/web at their peak), more than ResourceQuota compute allows (4 CPU): new pods are refused with \"exceeded quota\" and the rollout stalls"]
	[[f.details.running_from, f.details.running_pods] | some f in v] == [["status.used", null]]

	# With room for the surge, nothing to report.
	count(quota_headroom.violation) == 0 with input as judged(web, web_sim)
		with data.inventory as testing.inventory([web, used_quota({"requests.cpu": "4.5"}, {"requests.cpu": "3500m"})])
		with data.rollguard.changeset.simulation as [web_sim]
}

test_the_webhook_counts_a_created_workload_on_top_of_the_quota_status if {
	# In admission, only an UPDATE has old pods counted in status.used; a CREATE adds its peak to all of it.
	# 1.5 CPU used: by other pods for a CREATE (1.5 + 2.5 is over 3.5), by web's own old pods for an UPDATE.
	inventory := testing.inventory([used_quota({"requests.cpu": "3500m"}, {"requests.cpu": "1500m"})])
	create := object.union(testing.review_in("shop", web, {}), {"simulation": web_sim})
	update := object.union(create, {"review": {"operation": "UPDATE"}})
	v := quota_headroom.violation with input as create with data.inventory as inventory
	[[f.details.running, f.details.need] | some f in v] == [["1.5 CPU", "4 CPU"]]
	count(quota_headroom.violation) == 0 with input as update with data.inventory as inventory
}

test_a_workload_the_simulation_could_not_play_is_not_judged_fine_where_a_quota_applies if {
	unplayed := {"kind": "Deployment", "namespace": "shop", "name": "web", "not_simulated": "simulation failed: the rollout has more than 1,000 steps to simulate"}
	v := quota_headroom.violation with input as judged(web, unplayed)
		with data.inventory as testing.inventory([web, quota("compute", {"pods": "1"})])
	v == {{
		"msg": "not judged against ResourceQuota compute: the rollout could not be simulated: simulation failed: the rollout has more than 1,000 steps to simulate",
		"details": {"case": "not_simulated", "not_simulated": "simulation failed: the rollout has more than 1,000 steps to simulate", "namespace": "shop", "quota": "compute"},
	}}

	# Without a quota in the namespace there is nothing it would have judged.
	count(quota_headroom.violation) == 0 with input as judged(web, unplayed) with data.inventory as testing.inventory([web])

	# Another workload of the change that could not be simulated is left out of the sums, not summed as nothing.
	inventory := testing.inventory([web, quota("compute", {"pods": "5"})])
	other := object.union(unplayed, {"name": "api"})
	count(quota_headroom.violation) == 0 with input as judged(web, web_sim)
		with data.inventory as inventory
		with data.rollguard.changeset.simulation as [web_sim, other]
}
