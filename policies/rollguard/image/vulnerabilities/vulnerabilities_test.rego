package rollguard.image.vulnerabilities_test

import data.rollguard.image.vulnerabilities

vuln(id, severity, fixed) := {
	"id": id, "package": "openssl", "installed": "3.1.4-r2", "fixed": fixed, "status": status(fixed),
	"severity": severity, "cvss": 9.8, "target": "app:1 (alpine 3.19.1)", "class": "os-pkgs", "type": "alpine", "line": 40,
}

status(null) := "affected"

status(fixed) := "fixed" if fixed != null

report(vulns) := {
	"kind": "ImageScan",
	"metadata": {"name": "registry.example.com/app:1"},
	"image": {"name": "registry.example.com/app", "tag": "1", "references": ["registry.example.com/app:1"], "repo_digests": [], "digests": []},
	"vulnerabilities": vulns,
}

run(vulns, parameters) := v if {
	v := vulnerabilities.violation with input as {
		"artifact": report(vulns),
		"parameters": object.union({"max_severity": "HIGH", "block_unfixed": false}, parameters),
	}
}

details(v) := {
	"id": v.id, "package": "openssl", "installed": "3.1.4-r2", "fixed": v.fixed, "status": v.status,
	"severity": v.severity, "cvss": 9.8, "target": "app:1 (alpine 3.19.1)", "image": "registry.example.com/app:1", "line": 40,
}

now := 1795694400000000000 # 2026-11-26T12:00:00Z

exception(overrides) := object.union(
	{"id": "ex-1", "cve": "CVE-2024-2511", "image": "registry.example.com/app", "reason": "not reachable", "owner": "team", "expires": "2026-12-31", "expires_ns": 1798761600000000000},
	overrides,
)

test_fixable_critical_is_reported if {
	v := vuln("CVE-2024-2511", "CRITICAL", "3.1.4-r6")
	run([v], {}) == {{
		"msg": "CVE-2024-2511 (CRITICAL) in openssl 3.1.4-r2 of registry.example.com/app:1 is fixed in 3.1.4-r6; rebuild the image with the fixed version",
		"details": details(v),
	}}
}

test_below_threshold_is_not_reported if {
	count(run([vuln("CVE-1", "MEDIUM", "2"), vuln("CVE-2", "LOW", "2"), vuln("CVE-3", "UNKNOWN", "2")], {})) == 0
}

test_threshold_parameter if {
	v := run([vuln("CVE-1", "MEDIUM", "2"), vuln("CVE-2", "LOW", "2")], {"max_severity": "medium"})
	{x.details.id | some x in v} == {"CVE-1"}
	count(run([vuln("CVE-1", "HIGH", "2")], {"max_severity": "CRITICAL"})) == 0
}

test_malformed_threshold_falls_back_to_high if {
	v := run([vuln("CVE-1", "HIGH", "2"), vuln("CVE-2", "MEDIUM", "2")], {"max_severity": 3})
	{x.details.id | some x in v} == {"CVE-1"}
}

test_unfixed_is_left_to_the_unfixed_policy if {
	count(run([vuln("CVE-2024-6119", "CRITICAL", null)], {})) == 0
}

test_block_unfixed_reports_unfixed_here if {
	v := vuln("CVE-2024-6119", "HIGH", null)
	run([v], {"block_unfixed": true}) == {{
		"msg": "CVE-2024-6119 (HIGH) in openssl 3.1.4-r2 of registry.example.com/app:1 has no fix yet (status affected) and block_unfixed is set",
		"details": details(v),
	}}
}

test_exception_in_force_skips_the_cve if {
	v := [vuln("CVE-2024-2511", "CRITICAL", "3.1.4-r6"), vuln("CVE-2024-9143", "HIGH", "3.1.4-r7")]
	found := run(v, {}) with data.rollguard.exceptions as [exception({})] with data.rollguard.context.now_ns as now
	{x.details.id | some x in found} == {"CVE-2024-9143"}
}

test_exception_cve_is_case_insensitive if {
	found := run([vuln("CVE-2024-2511", "CRITICAL", "1")], {}) with data.rollguard.exceptions as [exception({"cve": "cve-2024-2511"})]
		with data.rollguard.context.now_ns as now
	count(found) == 0
}

test_exception_image_forms if {
	v := [vuln("CVE-2024-2511", "CRITICAL", "1")]
	every pattern in ["*", "registry.example.com/app:1", "registry.example.com/*", "registry.example.com/app"] {
		count(run(v, {})) == 0 with data.rollguard.exceptions as [exception({"image": pattern})] with data.rollguard.context.now_ns as now
	}
	every pattern in ["registry.example.com/app:2", "registry.example.com/other", "other/*"] {
		count(run(v, {})) == 1 with data.rollguard.exceptions as [exception({"image": pattern})] with data.rollguard.context.now_ns as now
	}
}

test_expired_or_reasonless_exception_covers_nothing if {
	v := [vuln("CVE-2024-2511", "CRITICAL", "1")]
	count(run(v, {})) == 1 with data.rollguard.exceptions as [exception({"expires_ns": now})] with data.rollguard.context.now_ns as now
	count(run(v, {})) == 1 with data.rollguard.exceptions as [exception({"reason": "  "})] with data.rollguard.context.now_ns as now
	count(run(v, {})) == 1 with data.rollguard.exceptions as [object.remove(exception({}), ["reason"])] with data.rollguard.context.now_ns as now
}

test_two_exceptions_for_one_cve if {
	found := run([vuln("CVE-2024-2511", "CRITICAL", "1")], {})
		with data.rollguard.exceptions as [exception({}), exception({"id": "ex-2", "image": "*"})]
		with data.rollguard.context.now_ns as now
	count(found) == 0
}

test_malformed_vulnerabilities_are_ignored if {
	count(run([{"id": 7, "severity": "CRITICAL", "fixed": "1"}, {"severity": "CRITICAL", "fixed": "1"}], {})) == 0
}
