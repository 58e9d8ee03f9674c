# METADATA
# title: Serious vulnerabilities without a fix are tracked
# description: >-
#   An image scan report (Trivy) in the change lists a vulnerability at or above
#   max_severity (default HIGH) for which no fixed version exists yet (no
#   FixedVersion: status affected, will_not_fix, fix_deferred, end_of_life...).
#   Nothing in the image can be upgraded today, so this is reported at low
#   severity — visible in every report without blocking the rollout at the
#   default fail_on — so the team tracks it and redeploys once a fix ships. With
#   block_unfixed true, image.vulnerabilities reports these instead (at its own
#   severity) and this policy stays silent. Vulnerabilities covered by an
#   unexpired vulnerability exception with a reason are skipped. Low because
#   nothing in the image can be upgraded yet, so blocking would stop every
#   release of the image with no fix to make; block_unfixed makes these
#   blocking.
# scope: package
# custom:
#   id: image.vulnerabilities_unfixed
#   severity: low
#   controls: ["NIST-800-53:RA-5", "SOC2:CC7.1", "ISO27001:A.8.8"]
#   remediation: >-
#     Check whether the vulnerable package is needed at all (a smaller or
#     distroless base image often drops it), or whether another base image ships
#     a fixed build. Otherwise record an exception in rollguard.yaml
#     `vulnerability_exceptions` with a reason, an owner and an expiry date, and
#     rescan regularly so the fix is picked up when it ships.
#   applies_to: [ImageScan]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       max_severity:
#         type: string
#         enum: [CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN]
#         default: HIGH
#         description: >-
#           Lowest Trivy severity reported (at or above it); keep it equal to
#           image.vulnerabilities' value (the key `image.vulnerabilities*` sets both).
#       block_unfixed:
#         type: boolean
#         default: false
#         description: >-
#           When true, image.vulnerabilities reports unfixed vulnerabilities and
#           this policy reports nothing; set it for both with `image.vulnerabilities*`.
#   example_allowed: |
#     {"VulnerabilityID": "CVE-2019-1559", "PkgName": "openssl-libs", "Severity": "HIGH",
#      "InstalledVersion": "1:1.0.2k-16.el7", "FixedVersion": "1:1.0.2k-19.el7"}
#   example_disallowed: |
#     {"VulnerabilityID": "CVE-2021-3520", "PkgName": "liblz4-1", "Severity": "CRITICAL",
#      "InstalledVersion": "1.8.3-1", "Status": "affected"}
package rollguard.image.vulnerabilities_unfixed

import data.rollguard.lib.scan

violation contains {"msg": msg, "details": scan.vulnerability_details(input.artifact, v)} if {
	not input.parameters.block_unfixed == true
	rank := scan.threshold(input.parameters.max_severity)
	some v in input.artifact.vulnerabilities
	is_string(v.id)
	not is_string(v.fixed)
	scan.at_or_above(v.severity, rank)
	not scan.excepted(input.artifact, v)
	msg := sprintf("%s (%s) in %s %s of %s has no fix yet (status %s); track it and rebuild once a fix ships", [
		v.id, v.severity, scan.text(v.package), scan.text(v.installed), scan.display(input.artifact), scan.text(v.status),
	])
}
