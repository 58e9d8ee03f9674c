package rollguard.governance.rollout_slo_test

import data.rollguard.governance.rollout_slo
import data.rollguard.lib.testing

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": {"replicas": 4},
}

# The part of the simulation the policy reads (`rollguard simulate --format json`, docs/simulation.md).
simulation(duration, rollback, min_available) := {
	"kind": "Deployment",
	"namespace": "shop",
	"name": "checkout",
	"replicas": 4,
	"rounds": 4,
	"min_available": min_available,
	"duration_seconds": duration,
	"rollback_seconds": rollback,
	"unbounded": null,
}

layer(match, objectives, where) := {"match": match, "objectives": objectives, "where": where}

context(layers) := {"environment": {"name": "prod"}, "slo": layers}

judge(sim, layers) := v if {
	v := rollout_slo.violation with input as object.union(testing.review(deployment, {}), {"simulation": sim})
		with data.rollguard.context as context(layers)
}

every_objective := [layer(null, {"max_rollout_minutes": 30, "max_rollback_minutes": 10, "min_capacity_percent": 75}, "slo")]

test_within_every_objective_passes if {
	count(judge(simulation(1800.0, 600.0, 3), every_objective)) == 0
}

test_no_objectives_leave_the_workload_alone if {
	count(judge(simulation(99999.0, 99999.0, 0), [])) == 0

	# A service entry for another workload does not apply.
	count(judge(simulation(99999.0, 99999.0, 0), [layer("payments", {"max_rollout_minutes": 1}, "slo.services.payments")])) == 0
}

test_a_long_rollout_is_reported if {
	judge(simulation(2430.0, 600.0, 3), every_objective) == {{
		"msg": "the rollout takes 40.5 min (4 rounds) by the simulation, more than the 30 min of slo in prod",
		"details": {"objective": "max_rollout_minutes", "limit_minutes": 30, "minutes": 40.5, "from": "slo", "rounds": 4},
	}}
}

test_a_slow_rollback_is_reported if {
	judge(simulation(1200.0, 900.0, 3), every_objective) == {{
		"msg": "rolling back takes 15 min by the simulation, more than the 10 min of slo in prod",
		"details": {"objective": "max_rollback_minutes", "limit_minutes": 10, "minutes": 15, "from": "slo"},
	}}
}

test_capacity_below_the_objective_is_reported if {
	judge(simulation(600.0, 300.0, 2), every_objective) == {{
		"msg": "available pods drop to 2 of 4 (50%) during the rollout, below the 75% of slo in prod",
		"details": {"objective": "min_capacity_percent", "limit_percent": 75, "percent": 50, "min_available": 2, "replicas": 4, "from": "slo"},
	}}
}

test_the_most_specific_layer_sets_each_objective if {
	layers := [
		layer(null, {"max_rollout_minutes": 60, "min_capacity_percent": 50}, "slo"),
		layer("shop/*", {"max_rollout_minutes": 45}, "slo.services.shop/*"),
		layer(null, {"max_rollout_minutes": 30}, "environments.prod.slo"),
		layer("Deployment/checkout", {"max_rollout_minutes": 20}, "environments.prod.slo.services.Deployment/checkout"),
	]
	v := judge(simulation(1500.0, 60.0, 2), layers)
	[d.from | some x in v; d := x.details] == ["environments.prod.slo.services.Deployment/checkout"]
	[x.details.limit_minutes | some x in v] == [20]

	# Without the service's entry, the environment's 30 min hold; 25 min fits.
	count(judge(simulation(1500.0, 60.0, 2), array.slice(layers, 0, 3))) == 0

	# The capacity objective still comes from the top level: 2 of 4 is 50%, not below it.
	count(judge(simulation(600.0, 60.0, 2), layers)) == 0
}

test_a_rollout_waiting_for_a_manual_promotion_cannot_be_shown_to_fit if {
	sim := object.union(simulation(null, null, 4), {"unbounded": {"reason": "pause without duration", "step": 2}})
	judge(sim, every_objective) == {{
		"msg": "the rollout has no end the files can tell (pause without duration), so it cannot be shown to meet the 30 min of slo in prod",
		"details": {"objective": "max_rollout_minutes", "limit_minutes": 30, "minutes": null, "from": "slo", "unbounded": {"reason": "pause without duration", "step": 2}},
	}}
}

test_without_an_environment_the_message_names_none if {
	v := rollout_slo.violation with input as object.union(testing.review(deployment, {}), {"simulation": simulation(2400.0, 60.0, 4)})
		with data.rollguard.context as {"environment": {"name": null}, "slo": every_objective}
	[x.msg | some x in v] == ["the rollout takes 40 min (4 rounds) by the simulation, more than the 30 min of slo"]
}

test_a_workload_with_objectives_the_simulation_could_not_play_is_not_judged_fine if {
	sim := {"kind": "Deployment", "namespace": "shop", "name": "checkout", "not_simulated": "rollguard.io/startup-seconds: 'soon' is not a number of seconds"}
	judge(sim, every_objective) == {{
		"msg": "not judged against the rollout objectives: the rollout could not be simulated: rollguard.io/startup-seconds: 'soon' is not a number of seconds",
		"details": {"case": "not_simulated", "not_simulated": "rollguard.io/startup-seconds: 'soon' is not a number of seconds"},
	}}
	count(judge(sim, [])) == 0
}
