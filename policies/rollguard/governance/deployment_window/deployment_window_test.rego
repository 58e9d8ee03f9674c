package rollguard.governance.deployment_window_test

import data.rollguard.governance.deployment_window

# Mon-Thu 09:00-16:00 Europe/Berlin: open [1000, 2000) and [5000, 6000) around the decision time.
office := {
	"days": ["mon", "tue", "wed", "thu"], "from": "09:00", "to": "16:00", "timezone": "Europe/Berlin",
	"display": "mon,tue,wed,thu 09:00-16:00 Europe/Berlin", "local_time": "Sat 2026-11-28 11:00 CET",
	"open_ns": [[1000, 2000], [5000, 6000]],
}

year_end := {
	"from": "2026-12-20", "to": "2027-01-04", "reason": "year-end freeze", "timezone": "Europe/Berlin",
	"local_time": "Tue 2026-12-22 11:00 CET", "start_ns": 3000, "end_ns": 4000,
}

change := {"kind": "ChangeRequest", "metadata": {"name": "prod"}, "approval": null}

run(now, windows, freezes, approval, parameters) := v if {
	v := deployment_window.violation with input as {
		"artifact": object.union(change, {"approval": approval}),
		"parameters": parameters,
	}
		with data.rollguard.context as {
			"environment": {"name": "prod", "risk": "high", "windows": windows, "freezes": freezes, "previous": null},
			"now_ns": now,
		}
}

test_inside_a_window_is_allowed if {
	count(run(1000, [office], [], null, {})) == 0
	count(run(5999, [office], [], null, {})) == 0
}

test_no_windows_is_always_open if {
	count(run(2500, [], [], null, {})) == 0
}

test_outside_the_windows if {
	run(2000, [office], [], null, {}) == {{
		"msg": "deploying to prod outside its deployment windows: mon,tue,wed,thu 09:00-16:00 Europe/Berlin (it is Sat 2026-11-28 11:00 CET there)",
		"details": {
			"environment": "prod",
			"windows": ["mon,tue,wed,thu 09:00-16:00 Europe/Berlin"],
			"local_times": ["Sat 2026-11-28 11:00 CET"],
		},
	}}
	count(run(999, [office], [], null, {})) == 1
}

test_any_window_opens if {
	late := object.union(office, {"display": "fri 22:00-02:00 UTC", "open_ns": [[2500, 2600]]})
	count(run(2550, [office, late], [], null, {})) == 0
	[found] := [x | some x in run(2700, [office, late], [], null, {})]
	found.details.windows == ["mon,tue,wed,thu 09:00-16:00 Europe/Berlin", "fri 22:00-02:00 UTC"]
}

test_inside_a_freeze if {
	run(3000, [], [year_end], null, {}) == {{
		"msg": "deploying to prod at Tue 2026-12-22 11:00 CET falls in the freeze from 2026-12-20 to 2027-01-04 (Europe/Berlin): year-end freeze",
		"details": {
			"environment": "prod",
			"local_time": "Tue 2026-12-22 11:00 CET",
			"freeze": {"from": "2026-12-20", "to": "2027-01-04", "reason": "year-end freeze", "timezone": "Europe/Berlin"},
		},
	}}
	count(run(4000, [], [year_end], null, {})) == 0
	count(run(2999, [], [year_end], null, {})) == 0
}

test_a_freeze_inside_a_window_still_blocks if {
	open_in_freeze := object.union(office, {"open_ns": [[3000, 3500]]})
	[found] := [x | some x in run(3100, [open_in_freeze], [year_end], null, {})]
	found.details.freeze.reason == "year-end freeze"
}

test_approval_overrides_windows_only_when_configured if {
	approval := {"reference": "CHG-1234", "source": "command line", "file": null, "line": null}
	count(run(2500, [office], [], approval, {})) == 1
	count(run(2500, [office], [], approval, {"approval_overrides_window": true})) == 0
	count(run(2500, [office], [], null, {"approval_overrides_window": true})) == 1
	count(run(3100, [office], [year_end], approval, {"approval_overrides_window": true})) == 1
}
