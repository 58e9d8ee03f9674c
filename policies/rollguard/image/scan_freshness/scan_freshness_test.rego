package rollguard.image.scan_freshness_test

import data.rollguard.image.scan_freshness

now := 1795694400000000000 # 2026-11-26T12:00:00Z

hour := 3600000000000

report(at_ns, at) := {"kind": "ImageScan", "metadata": {"name": "registry.example.com/app:1"}, "scanned_at_ns": at_ns, "scanned_at": at}

run(r, parameters) := v if {
	v := scan_freshness.violation with input as {"artifact": r, "parameters": parameters} with data.rollguard.context.now_ns as now
}

test_old_report_is_reported if {
	run(report(now - (30 * hour + 5), "2026-11-25T05:59:59.999999995Z"), {"max_age_hours": 24}) == {{
		"msg": "the scan of registry.example.com/app:1 is 30 hours old (written 2026-11-25T05:59:59.999999995Z); reports older than 24 hours miss vulnerabilities published since: scan again",
		"details": {"scanned_at": "2026-11-25T05:59:59.999999995Z", "age_hours": 30, "max_age_hours": 24},
	}}
}

test_recent_report_passes if {
	count(run(report(now - 24 * hour, "x"), {"max_age_hours": 24})) == 0
	count(run(report(now + hour, "x"), {"max_age_hours": 24})) == 0
}

test_max_age_parameter if {
	count(run(report(now - 30 * hour, "x"), {"max_age_hours": 48})) == 0
	v := run(report(now - 2 * hour, "x"), {"max_age_hours": 1.5})
	{x.details.max_age_hours | some x in v} == {1.5}
	count(run(report(now - 30 * hour, "x"), {"max_age_hours": "48"})) == 1
}

test_missing_created_at_is_reported if {
	run(report(null, null), {"max_age_hours": 24}) == {{
		"msg": "the scan report of registry.example.com/app:1 has no CreatedAt time, so its age is unknown; use a report written by a current Trivy",
		"details": {"scanned_at": null, "age_hours": null, "max_age_hours": 24},
	}}
}

test_no_decision_time_no_age_finding if {
	count(scan_freshness.violation) == 0 with input as {"artifact": report(0, "x"), "parameters": {}}
}
