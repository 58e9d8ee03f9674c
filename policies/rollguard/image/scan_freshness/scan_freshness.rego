# METADATA
# title: Image scan reports are recent
# description: >-
#   New vulnerabilities are published every day: a report that was clean last
#   month says nothing about today. A Trivy report in the change must have been
#   written (CreatedAt) at most max_age_hours (default 24) before the decision
#   time; a report without CreatedAt has an unknown age and is reported too. The
#   decision time is rollguard's (`--now`, default the current time), so the
#   same inputs always give the same answer. Medium because an old report is
#   still evidence, only incomplete: it misses vulnerabilities published since,
#   which the next scan catches.
# scope: package
# custom:
#   id: image.scan_freshness
#   severity: medium
#   controls: ["NIST-800-53:RA-5", "SOC2:CC7.1", "ISO27001:A.8.8"]
#   remediation: >-
#     Scan the image again in the same pipeline run that deploys it (`rollguard
#     check --scan-images`, or `rollguard scan IMAGE` just before `rollguard
#     check`) instead of reusing a report from an earlier build.
#   applies_to: [ImageScan]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       max_age_hours:
#         type: number
#         exclusiveMinimum: 0
#         default: 24
#         description: Oldest acceptable report, in hours before the decision time.
#   example_allowed: |
#     {"SchemaVersion": 2, "CreatedAt": "2026-11-26T08:00:00Z", "ArtifactName": "registry.example.com/web:1.4.2"}
#   example_disallowed: |
#     {"SchemaVersion": 2, "CreatedAt": "2026-10-01T08:00:00Z", "ArtifactName": "registry.example.com/web:1.4.2"}
package rollguard.image.scan_freshness

import data.rollguard.lib.scan

violation contains {"msg": msg, "details": d} if {
	scanned := input.artifact.scanned_at_ns
	is_number(scanned)
	age := scan.now_ns - scanned
	age > max_age_hours * hour_ns
	hours := floor(age / hour_ns)
	d := {"scanned_at": input.artifact.scanned_at, "age_hours": hours, "max_age_hours": max_age_hours}
	msg := sprintf("the scan of %s is %s hours old (written %s); reports older than %v hours miss vulnerabilities published since: scan again", [
		scan.display(input.artifact), format_int(hours, 10), scan.text(input.artifact.scanned_at), max_age_hours,
	])
}

violation contains {"msg": msg, "details": {"scanned_at": null, "age_hours": null, "max_age_hours": max_age_hours}} if {
	input.artifact.kind == "ImageScan"
	not is_number(input.artifact.scanned_at_ns)
	msg := sprintf("the scan report of %s has no CreatedAt time, so its age is unknown; use a report written by a current Trivy", [scan.display(input.artifact)])
}

hour_ns := 3600000000000

max_age_hours := input.parameters.max_age_hours if {
	is_number(input.parameters.max_age_hours)
	input.parameters.max_age_hours > 0
} else := 24
