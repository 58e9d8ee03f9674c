# METADATA
# title: Vulnerability exceptions are current and justified
# description: >-
#   A vulnerability exception (rollguard.yaml `vulnerability_exceptions`: id,
#   cve, image, reason, owner, expires) accepts one known vulnerability in one
#   image for a limited time. An exception past its expiry date (it holds through
#   that day, UTC) or without a reason no longer silences image.vulnerabilities,
#   and is itself reported on every scan report of an image it names, so lapsed
#   risk acceptances are renewed or removed rather than forgotten. Medium
#   because a lapsed or reason-less exception already stops silencing its
#   vulnerability, which image.vulnerabilities then blocks on its own; this
#   finding is the reminder to renew or remove it.
# scope: package
# custom:
#   id: image.exceptions
#   severity: medium
#   controls: ["NIST-800-53:RA-7", "NIST-800-53:SI-2", "PCI-DSS:6.3.1", "SOC2:CC7.1", "ISO27001:A.8.8"]
#   remediation: >-
#     Fix the vulnerability and delete the exception, or review it again: write
#     down why the vulnerability is acceptable (reason), who owns the decision
#     (owner) and a new end date (expires).
#   applies_to: [ImageScan]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     vulnerability_exceptions:
#     - {id: musl-cve-2019-5021, cve: CVE-2019-5021, image: registry.example.com/web,
#        reason: "no root password login in this image", owner: team-web, expires: "2026-12-31"}
#   example_disallowed: |
#     vulnerability_exceptions:
#     - {id: musl-cve-2019-5021, cve: CVE-2019-5021, image: registry.example.com/web,
#        owner: team-web, expires: "2025-01-31"}
package rollguard.image.exceptions

import data.rollguard.lib.scan

violation contains {"msg": msg, "details": details(e)} if {
	some e in relevant
	scan.expired(e)
	msg := sprintf("vulnerability exception %q (%s in %s, owner %s) expired on %s; fix the vulnerability or review the exception again", [
		e.id, scan.text(e.cve), scan.exception_image(e), scan.text(e.owner), scan.text(e.expires),
	])
}

violation contains {"msg": msg, "details": details(e)} if {
	some e in relevant
	not scan.has_reason(e)
	msg := sprintf("vulnerability exception %q (%s in %s, owner %s) has no reason, so it silences nothing; say why the vulnerability is acceptable", [
		e.id, scan.text(e.cve), scan.exception_image(e), scan.text(e.owner),
	])
}

# Exceptions that name the scanned image.
relevant contains e if {
	input.artifact.kind == "ImageScan"
	some e in scan.exceptions
	scan.applies_to_report(e, input.artifact)
}

details(e) := {
	"exception": e.id,
	"cve": object.get(e, "cve", null),
	"image": scan.exception_image(e),
	"owner": object.get(e, "owner", null),
	"expires": object.get(e, "expires", null),
	"reason": object.get(e, "reason", null),
}
