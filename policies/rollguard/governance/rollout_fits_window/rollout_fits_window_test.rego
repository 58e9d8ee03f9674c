package rollguard.governance.rollout_fits_window_test

import data.rollguard.governance.rollout_fits_window

minute := 60000000000

# Mon-Thu 09:00-16:00 Europe/Berlin, open from t=0 to 60 minutes and again from 1000 minutes.
office := {
	"days": ["mon", "tue", "wed", "thu"], "from": "09:00", "to": "16:00", "timezone": "Europe/Berlin",
	"display": "mon,tue,wed,thu 09:00-16:00 Europe/Berlin", "local_time": "Tue 2026-11-24 15:00 CET",
	"open_ns": [[0, 60 * minute], [1000 * minute, 1060 * minute]],
}

change := {"kind": "ChangeRequest", "metadata": {"name": "prod"}, "approval": null}

simulated(name, seconds) := {"kind": "Deployment", "namespace": "shop", "name": name, "duration_seconds": seconds, "unbounded": null}

run(now, windows, simulation, parameters) := v if {
	v := rollout_fits_window.violation with input as {"artifact": change, "parameters": parameters}
		with data.rollguard.context as {
			"environment": {"name": "prod", "risk": "high", "windows": windows, "freezes": [], "previous": null},
			"now_ns": now,
		}
		with data.rollguard.changeset as {"simulation": simulation}
}

test_a_rollout_that_ends_inside_the_window_passes if {
	# 20 minutes at minute 30: ends at 50, the window closes at 60; ending exactly at the close is in time.
	count(run(30 * minute, [office], [simulated("cart", 600.0), simulated("checkout", 1200.0)], {})) == 0
	count(run(40 * minute, [office], [simulated("checkout", 1200.0)], {})) == 0
}

test_the_longest_rollout_past_the_close_is_reported if {
	run(45 * minute, [office], [simulated("cart", 600.0), simulated("checkout", 1200.0)], {}) == {{
		"msg": "the rollout of Deployment shop/checkout takes 20 min by the simulation, but the prod window (mon,tue,wed,thu 09:00-16:00 Europe/Berlin) closes in 15 min",
		"details": {
			"environment": "prod",
			"window": "mon,tue,wed,thu 09:00-16:00 Europe/Berlin",
			"local_time": "Tue 2026-11-24 15:00 CET",
			"minutes_left": 15,
			"rollout_minutes": 20,
			"margin_minutes": 0,
			"workload": "Deployment shop/checkout",
		},
	}}
}

test_the_margin_counts_against_the_window if {
	[v.msg | some v in run(30 * minute, [office], [simulated("checkout", 1200.0)], {"margin_minutes": 15})] == [
		"the rollout of Deployment shop/checkout takes 20 min by the simulation plus a margin of 15 min, but the prod window (mon,tue,wed,thu 09:00-16:00 Europe/Berlin) closes in 30 min",
	]
}

test_outside_every_window_and_without_windows_it_is_left_alone if {
	# governance.deployment_window reports a change outside the windows.
	count(run(500 * minute, [office], [simulated("checkout", 99999.0)], {})) == 0
	count(run(30 * minute, [], [simulated("checkout", 99999.0)], {})) == 0
}

test_overlapping_windows_close_at_the_latest if {
	late := object.union(office, {"display": "daily 09:00-18:00 UTC", "open_ns": [[0, 120 * minute]]})
	count(run(45 * minute, [office, late], [simulated("checkout", 1200.0)], {})) == 0
	[v.details.window | some v in run(110 * minute, [office, late], [simulated("checkout", 1200.0)], {})] == ["daily 09:00-18:00 UTC"]
}

test_a_rollout_waiting_for_promotion_cannot_be_shown_to_end if {
	paused := object.union(simulated("checkout", null), {"kind": "Rollout", "unbounded": {"reason": "pause without duration", "step": 1}})
	[v.msg | some v in run(10 * minute, [office], [paused], {})] == [
		"the rollout of Rollout shop/checkout has no end the files can tell (pause without duration), so it cannot be shown to end before the prod window (mon,tue,wed,thu 09:00-16:00 Europe/Berlin) closes",
	]
}

test_a_workload_the_simulation_could_not_play_is_not_judged_fine_inside_a_window if {
	unplayed := {"kind": "Deployment", "namespace": "shop", "name": "cart", "not_simulated": "spec.replicas: -1 is not a whole number of at least 0"}
	run(30 * minute, [office], [simulated("checkout", 600.0), unplayed], {}) == {{
		"msg": "not judged against the prod window (mon,tue,wed,thu 09:00-16:00 Europe/Berlin): the rollout of Deployment shop/cart could not be simulated: spec.replicas: -1 is not a whole number of at least 0",
		"details": {
			"case": "not_simulated",
			"environment": "prod",
			"window": "mon,tue,wed,thu 09:00-16:00 Europe/Berlin",
			"workload": "Deployment shop/cart",
			"not_simulated": "spec.replicas: -1 is not a whole number of at least 0",
		},
	}}
	count(run(500 * minute, [office], [unplayed], {})) == 0
}
