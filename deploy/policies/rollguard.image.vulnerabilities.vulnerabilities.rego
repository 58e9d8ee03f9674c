# METADATA
# title: Deployed images have no fixable serious vulnerabilities
# description: >-
#   An image scan report (Trivy) in the change lists a vulnerability at or above
#   max_severity (default HIGH) for which the package maintainers ship a fix
#   (FixedVersion is set). Rolling it out puts a known, patchable weakness on
#   every new pod, and rolling back later restores it again. Vulnerabilities
#   without a fix are reported by image.vulnerabilities_unfixed at low severity,
#   unless block_unfixed is true: then they are reported here. A vulnerability
#   covered by an unexpired vulnerability exception (rollguard.yaml
#   `vulnerability_exceptions`, with a reason) for the scanned image is skipped.
#   Each finding points at the vulnerability's line in the report. High: a
#   serious vulnerability with a published fix is a known, patchable weakness
#   rolled onto every new pod; max_severity CRITICAL narrows the gate to the
#   worst.
# scope: package
# custom:
#   id: image.vulnerabilities
#   severity: high
#   controls: ["NIST-800-53:RA-5", "NIST-800-53:SI-2", "PCI-DSS:6.3.3", "SOC2:CC7.1", "ISO27001:A.8.8"]
#   remediation: >-
#     Rebuild the image on a patched base image or upgrade the package to the
#     fixed version the finding names, push it, scan it again and deploy the new
#     digest. If the vulnerable code cannot be reached, record an exception in
#     rollguard.yaml `vulnerability_exceptions` with the CVE, the image, a reason,
#     an owner and an expiry date.
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
#           Lowest Trivy severity reported (at or above it). Set the same value
#           for image.vulnerabilities_unfixed, e.g. with the key
#           `image.vulnerabilities*`.
#       block_unfixed:
#         type: boolean
#         default: false
#         description: >-
#           Also report vulnerabilities that have no fix yet here (at this
#           policy's severity) instead of through image.vulnerabilities_unfixed.
#           Set it for both policies with the key `image.vulnerabilities*`.
#   example_allowed: |
#     {"VulnerabilityID": "CVE-2019-18276", "PkgName": "bash", "Severity": "LOW",
#      "InstalledVersion": "4.2.46-31.el7", "Status": "will_not_fix"}
#   example_disallowed: |
#     {"VulnerabilityID": "CVE-2019-5021", "PkgName": "musl", "Severity": "CRITICAL",
#      "InstalledVersion": "1.1.20-r4", "FixedVersion": "1.1.20-r5", "Status": "fixed"}
package rollguard.image.vulnerabilities

import data.rollguard.lib.scan

violation contains {"msg": msg, "details": scan.vulnerability_details(input.artifact, v)} if {
	some v in reported
	is_string(v.fixed)
	msg := sprintf("%s (%s) in %s %s of %s is fixed in %s; rebuild the image with the fixed version", [
		v.id, v.severity, scan.text(v.package), scan.text(v.installed), scan.display(input.artifact), v.fixed,
	])
}

violation contains {"msg": msg, "details": scan.vulnerability_details(input.artifact, v)} if {
	input.parameters.block_unfixed == true
	some v in reported
	not is_string(v.fixed)
	msg := sprintf("%s (%s) in %s %s of %s has no fix yet (status %s) and block_unfixed is set", [
		v.id, v.severity, scan.text(v.package), scan.text(v.installed), scan.display(input.artifact), scan.text(v.status),
	])
}

# Vulnerabilities at or above the threshold that no exception in force covers.
reported contains v if {
	rank := scan.threshold(input.parameters.max_severity)
	some v in input.artifact.vulnerabilities
	is_string(v.id)
	scan.at_or_above(v.severity, rank)
	not scan.excepted(input.artifact, v)
}
