package rollguard.governance.concurrent_rollouts_test

import data.rollguard.governance.concurrent_rollouts

minute := 60000000000

start := 1000 * minute

web := {"kind": "Deployment", "namespace": "shop", "name": "web", "file": "k8s/web.yaml", "line": 2}

checkout := {"kind": "Deployment", "namespace": "checkout", "name": "cart", "file": "k8s/cart.yaml", "line": 2}

# Team A's rollout of shop/payments, simulated to take 20 minutes.
payments := {
	"id": "payments-42",
	"environment": "prod",
	"workloads": [{"kind": "Deployment", "namespace": "shop", "name": "payments"}],
	"namespaces": ["shop"],
	"duration_seconds": 1200,
	"started": "2026-12-06T10:00:00.000000Z",
	"started_ns": start,
	"actor": "team-a",
	"seq": 7,
}

run(workloads, rollouts, at, parameters, dependencies, inventory) := v if {
	v := concurrent_rollouts.violation with input as {
		"artifact": {"kind": "ChangeRequest", "metadata": {"name": "prod"}, "workloads": workloads},
		"parameters": parameters,
	}
		with data.rollguard.context as {
			"environment": {"name": "prod", "risk": "high"},
			"rollouts": rollouts,
			"dependencies": dependencies,
			"now_ns": at,
		}
		with data.inventory as inventory
}

test_open_rollout_in_the_same_namespace if {
	run([web], [payments], start + (5 * minute), {}, {}, {}) == {{
		"msg": "rollout payments-42 by team-a is still open in prod namespace shop (started 2026-12-06T10:00:00.000000Z, simulated to take 20 min); wait for it to finish (`rollguard rollout finish`) or coordinate with its owner",
		"details": {
			"environment": "prod",
			"rollout": "payments-42",
			"started": "2026-12-06T10:00:00.000000Z",
			"actor": "team-a",
			"namespace": "shop",
		},
	}}
}

test_rollout_past_its_simulated_duration_is_not_open if {
	count(run([web], [payments], start + (21 * minute), {}, {}, {})) == 0
}

test_rollout_started_after_the_decision_time_is_not_open if {
	count(run([web], [payments], start - minute, {}, {}, {})) == 0
}

test_other_namespace_is_no_conflict if {
	count(run([checkout], [payments], start + (5 * minute), {}, {}, {})) == 0
}

test_no_store_no_rollouts_nothing_reported if {
	count(run([web], [], start, {}, {}, {})) == 0
}

unknown_duration := object.union(payments, {"duration_seconds": null, "actor": null})

test_unknown_duration_uses_the_default_window if {
	run([web], [unknown_duration], start + (59 * minute), {}, {}, {}) == {{
		"msg": "rollout payments-42 is still open in prod namespace shop (started 2026-12-06T10:00:00.000000Z, no recorded duration: counted open for 60 min); wait for it to finish (`rollguard rollout finish`) or coordinate with its owner",
		"details": {
			"environment": "prod",
			"rollout": "payments-42",
			"started": "2026-12-06T10:00:00.000000Z",
			"actor": null,
			"namespace": "shop",
		},
	}}
	count(run([web], [unknown_duration], start + (61 * minute), {}, {}, {})) == 0
}

test_default_window_is_a_parameter if {
	count(run([web], [unknown_duration], start + (25 * minute), {"default_window_minutes": 20}, {}, {})) == 0
	count(run([web], [unknown_duration], start + (15 * minute), {"default_window_minutes": 20}, {}, {})) == 1
}

dependency_result := {{
	"msg": "Deployment checkout/cart depends on Deployment shop/payments, which rollout payments-42 by team-a is still changing in prod (started 2026-12-06T10:00:00.000000Z, simulated to take 20 min); wait for it to finish or coordinate with its owner",
	"details": {
		"environment": "prod",
		"rollout": "payments-42",
		"started": "2026-12-06T10:00:00.000000Z",
		"actor": "team-a",
		"workload": "Deployment checkout/cart",
		"depends_on": "Deployment shop/payments",
		"source": "k8s/cart.yaml:2",
	},
}}

test_dependency_from_rollguard_yaml if {
	run([checkout], [payments], start + (5 * minute), {}, {"checkout/cart": ["shop/payments>=2.4.0"]}, {}) == dependency_result
}

test_dependency_from_the_annotation if {
	cart := {
		"apiVersion": "apps/v1",
		"kind": "Deployment",
		"metadata": {"name": "cart", "namespace": "checkout", "annotations": {"rollguard.io/depends-on": "billing, shop/payments"}},
	}
	inventory := {"namespace": {"checkout": {"apps/v1": {"Deployment": {"cart": cart}}}}}
	run([checkout], [payments], start + (5 * minute), {}, {}, inventory) == dependency_result
}

test_dependency_on_another_workload_is_no_conflict if {
	count(run([checkout], [payments], start + (5 * minute), {}, {"cart": ["shop/orders"]}, {})) == 0
}

test_finished_rollouts_are_not_in_the_context if {
	# rollguard leaves finished rollouts out of data.rollguard.context.rollouts; an empty list is no finding.
	count(run([web, checkout], [], start + minute, {}, {"cart": ["shop/payments"]}, {})) == 0
}
