package rollguard.governance.team_quota_test

import data.rollguard.governance.team_quota

minute := 60000000000

change := {"kind": "ChangeRequest", "metadata": {"name": "prod"}, "approval": null}

# The part of a workload's simulation the policy reads (docs/simulation.md): 3 replicas of 500m
# and 256Mi, 5 pods at the peak with the old ones terminating.
simulated(ns, name) := {
	"kind": "Deployment", "namespace": ns, "name": name, "replicas": 3, "peak_pods_with_terminating": 5,
	"pod_requests": {"cpu": 0.5, "memory": 268435456}, "peak_requests": {"cpu": 2.5, "memory": 1342177280},
}

quota(fields) := object.union({"team": "payments", "namespaces": ["shop", "pay-*"], "where": "quotas[0]"}, fields)

started(id, ns, at, duration) := {"id": id, "namespaces": [ns], "started_ns": at, "duration_seconds": duration}

run(quotas, simulation, rollouts, now) := v if {
	v := team_quota.violation with input as {"artifact": change, "parameters": {}}
		with data.rollguard.context as {"environment": {"name": "prod"}, "now_ns": now, "quotas": quotas, "rollouts": rollouts}
		with data.rollguard.changeset as {"simulation": simulation}
}

test_within_the_quota_passes if {
	q := quota({"max_concurrent_rollouts": 2, "max_surge_pods": 4, "max_surge_cpu": 1, "max_surge_memory": 536870912})
	count(run([q], [simulated("shop", "cart")], [started("payments-42", "pay-api", 0, 1200)], 5 * minute)) == 0
}

test_too_many_rollouts_at_once_is_reported if {
	q := quota({"max_concurrent_rollouts": 1})
	run([q], [simulated("shop", "cart")], [started("payments-42", "pay-api", 0, 1200)], 5 * minute) == {{
		"msg": "team payments would run 2 rollouts at once in prod (this change and payments-42), more than the 1 of quotas[0]",
		"details": {"case": "concurrent", "team": "payments", "where": "quotas[0]", "environment": "prod", "limit": 1, "rollouts": 2, "open": ["payments-42"]},
	}}

	# Finished by its simulated duration, or in another team's namespace: no longer counted.
	count(run([q], [simulated("shop", "cart")], [started("payments-42", "pay-api", 0, 240)], 5 * minute)) == 0
	count(run([q], [simulated("shop", "cart")], [started("search-7", "search", 0, 1200)], 5 * minute)) == 0

	# A change that rolls nothing of the team's is not one of its rollouts.
	count(run([q], [simulated("search", "index")], [started("payments-42", "pay-api", 0, 1200)], 5 * minute)) == 0
}

test_a_rollout_without_a_duration_counts_for_the_default_window if {
	q := quota({"max_concurrent_rollouts": 1})
	count(run([q], [simulated("shop", "cart")], [started("db-1", "shop", 0, null)], 59 * minute)) == 1
	count(run([q], [simulated("shop", "cart")], [started("db-1", "shop", 0, null)], 61 * minute)) == 0
}

test_surge_past_the_quota_is_reported if {
	# Two of the three workloads are the team's: 2 + 2 pods and 1 + 1 CPU beyond the replicas.
	workloads := [simulated("shop", "cart"), simulated("pay-api", "ledger"), simulated("search", "index")]
	run([quota({"max_surge_pods": 3, "max_surge_cpu": 2})], workloads, [], 0) == {{
		"msg": "the change's rollouts add 4 pods at their peak in team payments's namespaces (Deployment shop/cart, Deployment pay-api/ledger), more than the 3 pods of quotas[0].max_surge_pods",
		"details": {"case": "surge", "team": "payments", "where": "quotas[0]", "environment": "prod", "quota": "max_surge_pods", "limit": "3 pods", "surge": "4 pods", "workloads": ["Deployment shop/cart", "Deployment pay-api/ledger"]},
	}}
	[x.details.surge | some x in run([quota({"max_surge_cpu": 1.5, "max_surge_memory": 1073741824})], workloads, [], 0)] == ["2 CPU"]
	[x.details.surge | some x in run([quota({"max_surge_memory": 1000000000})], workloads, [], 0)] == ["1024Mi"]
}

test_a_workload_that_could_not_be_simulated_is_not_judged_fine if {
	q := quota({"max_surge_pods": 3})
	unplayed := {"kind": "Deployment", "namespace": "shop", "name": "cart", "not_simulated": "spec.replicas: -1 is not a whole number of at least 0"}
	run([q], [unplayed], [], 0) == {{
		"msg": "not judged against quotas[0] (team payments): the rollout of Deployment shop/cart could not be simulated: spec.replicas: -1 is not a whole number of at least 0",
		"details": {"case": "not_simulated", "team": "payments", "where": "quotas[0]", "workload": "Deployment shop/cart", "not_simulated": "spec.replicas: -1 is not a whole number of at least 0"},
	}}
	count(run([q], [object.union(unplayed, {"namespace": "search"})], [], 0)) == 0
}

test_without_quotas_nothing_is_judged if {
	count(run([], [simulated("shop", "cart")], [started("payments-42", "shop", 0, 1200)], 0)) == 0
}
