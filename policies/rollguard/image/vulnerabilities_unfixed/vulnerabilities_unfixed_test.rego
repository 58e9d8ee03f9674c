package rollguard.image.vulnerabilities_unfixed_test

import data.rollguard.image.vulnerabilities_unfixed

vuln(id, severity, fixed, status) := {
	"id": id, "package": "busybox", "installed": "1.36.1-r15", "fixed": fixed, "status": status,
	"severity": severity, "cvss": null, "target": "app:1 (alpine 3.19.1)", "class": "os-pkgs", "type": "alpine", "line": null,
}

run(vulns, parameters) := v if {
	v := vulnerabilities_unfixed.violation with input as {
		"artifact": {"kind": "ImageScan", "metadata": {"name": "app:1"}, "image": {"references": ["app:1"]}, "vulnerabilities": vulns},
		"parameters": object.union({"max_severity": "HIGH", "block_unfixed": false}, parameters),
	}
}

test_unfixed_high_is_reported if {
	run([vuln("CVE-2024-6119", "HIGH", null, "will_not_fix")], {}) == {{
		"msg": "CVE-2024-6119 (HIGH) in busybox 1.36.1-r15 of app:1 has no fix yet (status will_not_fix); track it and rebuild once a fix ships",
		"details": {
			"id": "CVE-2024-6119", "package": "busybox", "installed": "1.36.1-r15", "fixed": null, "status": "will_not_fix",
			"severity": "HIGH", "cvss": null, "target": "app:1 (alpine 3.19.1)", "image": "app:1", "line": null,
		},
	}}
}

test_missing_status_prints_a_placeholder if {
	v := run([vuln("CVE-1", "CRITICAL", null, null)], {})
	{x.msg | some x in v} == {"CVE-1 (CRITICAL) in busybox 1.36.1-r15 of app:1 has no fix yet (status ?); track it and rebuild once a fix ships"}
}

test_fixed_and_low_are_not_reported if {
	count(run([vuln("CVE-1", "CRITICAL", "1.36.1-r16", "fixed"), vuln("CVE-2", "LOW", null, "affected")], {})) == 0
}

test_block_unfixed_silences_this_policy if {
	count(run([vuln("CVE-1", "CRITICAL", null, "affected")], {"block_unfixed": true})) == 0
}

test_threshold_parameter if {
	v := run([vuln("CVE-1", "MEDIUM", null, "affected"), vuln("CVE-2", "LOW", null, "affected")], {"max_severity": "MEDIUM"})
	{x.details.id | some x in v} == {"CVE-1"}
}

test_exception_in_force_skips_the_cve if {
	e := {"id": "ex", "cve": "CVE-1", "image": "app", "reason": "r", "owner": "o", "expires": "2026-12-31", "expires_ns": 2000}
	count(run([vuln("CVE-1", "HIGH", null, "affected")], {})) == 0 with data.rollguard.exceptions as [e]
		with data.rollguard.context.now_ns as 1000
	count(run([vuln("CVE-1", "HIGH", null, "affected")], {})) == 1 with data.rollguard.exceptions as [e]
		with data.rollguard.context.now_ns as 2000
}
