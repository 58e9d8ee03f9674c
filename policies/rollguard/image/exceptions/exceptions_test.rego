package rollguard.image.exceptions_test

import data.rollguard.image.exceptions

now := 1795694400000000000 # 2026-11-26T12:00:00Z

report := {
	"kind": "ImageScan",
	"metadata": {"name": "registry.example.com/shop/app:1.0"},
	"image": {"name": "registry.example.com/shop/app", "references": ["registry.example.com/shop/app:1.0"], "repo_digests": []},
}

exception(overrides) := object.union(
	{"id": "ex-1", "cve": "CVE-2024-6119", "image": "registry.example.com/shop/app", "reason": "no shell", "owner": "team-shop", "expires": "2026-12-31", "expires_ns": 1798761600000000000},
	overrides,
)

run(list) := v if {
	v := exceptions.violation with input as {"artifact": report, "parameters": {}}
		with data.rollguard.exceptions as list
		with data.rollguard.context.now_ns as now
}

test_current_exception_passes if {
	count(run([exception({})])) == 0
}

test_expired_exception_is_reported if {
	# expires 2026-11-25 holds through that day: it ended at 2026-11-26T00:00:00Z.
	e := exception({"expires": "2026-11-25", "expires_ns": 1795651200000000000})
	run([e]) == {{
		"msg": "vulnerability exception \"ex-1\" (CVE-2024-6119 in registry.example.com/shop/app, owner team-shop) expired on 2026-11-25; fix the vulnerability or review the exception again",
		"details": {"exception": "ex-1", "cve": "CVE-2024-6119", "image": "registry.example.com/shop/app", "owner": "team-shop", "expires": "2026-11-25", "reason": "no shell"},
	}}
}

test_exception_ending_today_still_holds if {
	count(run([exception({"expires": "2026-11-26", "expires_ns": now + 12 * 3600000000000})])) == 0
}

test_reasonless_exception_is_reported if {
	run([exception({"reason": ""})]) == {{
		"msg": "vulnerability exception \"ex-1\" (CVE-2024-6119 in registry.example.com/shop/app, owner team-shop) has no reason, so it silences nothing; say why the vulnerability is acceptable",
		"details": {"exception": "ex-1", "cve": "CVE-2024-6119", "image": "registry.example.com/shop/app", "owner": "team-shop", "expires": "2026-12-31", "reason": ""},
	}}
	v := run([object.remove(exception({"image": "*"}), ["reason"])])
	{x.details.reason | some x in v} == {null}
}

test_expired_and_reasonless_gives_two_findings if {
	count(run([exception({"reason": " ", "expires_ns": now})])) == 2
}

test_exceptions_for_other_images_are_not_reported_here if {
	count(run([exception({"image": "registry.example.com/shop/web", "reason": ""})])) == 0
	count(run([exception({"image": "registry.example.com/other/*", "expires_ns": 0})])) == 0
}

test_image_defaults_to_every_image if {
	v := run([object.remove(exception({"expires_ns": 0}), ["image"])])
	{x.details.image | some x in v} == {"*"}
}
