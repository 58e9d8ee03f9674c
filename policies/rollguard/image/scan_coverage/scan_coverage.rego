# METADATA
# title: Every deployed image has a scan report for exactly that image
# description: >-
#   A vulnerability gate only protects the images it has seen. Each container
#   (init and ephemeral included) of a workload in the change must have a Trivy
#   scan report in the same change: for an image pinned by @sha256 digest, a
#   report naming that digest in RepoDigests (a report of the same repository
#   with another digest is a scan of different bytes); for an image referenced by
#   tag, a report naming the same repository and tag (no tag means latest). The
#   other way round, an image scan report that matches no image deployed by the
#   change is reported too: it usually means the scan is of another build than
#   the one being rolled out. A report without digests (no
#   Metadata.RepoDigests: an image built in CI and scanned before it is pushed)
#   is judged like any other; when the change deploys its repository pinned by a
#   digest that no report names, the two cannot be matched, and that is said
#   once, on the report, at low severity (case report_without_digest) instead of
#   the findings above. Applies only when the change contains at least one scan
#   report, or when require_scans is true, so checks of plain manifests are
#   unaffected. High: an image without a report of its own bytes bypasses the
#   vulnerability gate entirely; the unmatchable report is low because its
#   vulnerabilities are still judged.
# scope: package
# custom:
#   id: image.scan_coverage
#   severity: high
#   case_severity:
#     report_without_digest: low
#   controls: ["NIST-800-53:RA-5", "NIST-800-53:SI-2", "PCI-DSS:6.3.1", "SOC2:CC7.1", "ISO27001:A.8.8"]
#   remediation: >-
#     Scan exactly what you deploy: `rollguard scan IMAGE@sha256:... --output-dir
#     scans/` (or `rollguard check --scan-images`) and pass the reports with the
#     manifests. Pin workloads by digest so the report and the running image are
#     provably the same; when the report is of another build, rescan the image
#     you are deploying.
#   case_remediation:
#     unscanned: >-
#       Scan {{ image }} as deployed and pass the report with the manifests:
#       `rollguard scan {{ image }} --output-dir scans/` (or `rollguard check
#       --scan-images`); pin it by digest so the report and the running image
#       are provably the same.
#     report_not_deployed: >-
#       Scan the images this change deploys ({{ deployed }}) and pass those
#       reports, or leave the report of {{ image }} out of the change.
#     report_without_digest: >-
#       Scan the pushed image by its digest (`rollguard scan
#       IMAGE@sha256:...`), so the report names the digest that {{ pinned }}
#       deploy.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod, ReplicaSet, ImageScan]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       require_scans:
#         type: boolean
#         default: false
#         description: >-
#           Judge workloads even when the change contains no scan report at all
#           (every image is then reported as unscanned).
#   example_allowed: |
#     # deployment.yaml
#     containers: [{name: web, image: "registry.example.com/web@sha256:3b4f...a3b2c"}]
#     # scan.json: "Metadata": {"RepoDigests": ["registry.example.com/web@sha256:3b4f...a3b2c"]}
#   example_disallowed: |
#     # deployment.yaml
#     containers: [{name: web, image: "registry.example.com/web@sha256:3b4f...a3b2c"}]
#     # scan.json: "Metadata": {"RepoDigests": ["registry.example.com/web@sha256:9d1e...77f0a"]}
package rollguard.image.scan_coverage

import data.rollguard.lib.image
import data.rollguard.lib.k8s
import data.rollguard.lib.scan

# A workload's image that no report covers.
violation contains {"msg": msg, "details": d} if {
	judging_workloads
	some e in image.obj_images
	not scan.covered(e.ref)
	not undigested_report_of(e.ref)
	scanned := same_repository(e.ref)
	d := {
		"container": e.container.name,
		"image": e.container.image,
		"digest": or_null(e.ref.digest),
		"scanned": scanned,
		"case": "unscanned",
		"path": k8s.container_field_path(e.container, "image"),
	}
	msg := uncovered_message(e, scanned)
}

# A scan report of an image that no workload of the change deploys.
violation contains {"msg": msg, "details": d} if {
	input.artifact.kind == "ImageScan"
	input.artifact.is_image == true
	count(scan.deployed_images) > 0
	not deploys(input.artifact)
	count(unmatched_pinned(input.artifact)) == 0
	deployed := sort(scan.deployed_images)
	d := {
		"case": "report_not_deployed",
		"image": scan.display(input.artifact),
		"digests": scan.image_list(input.artifact, "digests"),
		"deployed": deployed,
	}
	msg := sprintf("the scan report of %s matches no image deployed by this change (deployed: %s); scan the images you deploy", [
		scan.display(input.artifact), concat(", ", deployed),
	])
}

# A report without digests of a repository the change deploys pinned by digest: usable input whose
# vulnerabilities are judged, but it cannot be matched to those workloads. Said once, here.
violation contains {"msg": msg, "details": d} if {
	input.artifact.kind == "ImageScan"
	input.artifact.is_image == true
	pinned := sort(unmatched_pinned(input.artifact))
	count(pinned) > 0
	d := {"case": "report_without_digest", "image": scan.display(input.artifact), "digests": [], "pinned": pinned}
	msg := sprintf("the scan report of %s names no digest (no Metadata.RepoDigests: the image was scanned before it was pushed), so it cannot be matched to %s, which this change deploys pinned by digest; its vulnerabilities are judged, but nothing shows they are the deployed image's: scan the pushed image by its digest", [
		scan.display(input.artifact), concat(", ", pinned),
	])
}

# The cheap, selective test first: most changes carry no scan report and require none.
judging_workloads if {
	count(scan.reports) > 0
	k8s.kind in k8s.workload_kinds
}

# Images the change deploys pinned by a digest no report names, in the repository of `report`,
# when `report` itself names no digest.
unmatched_pinned(report) := {reference |
	count(scan.report_digests(report)) == 0
	some reference in scan.deployed_images
	ref := image.parse(reference)
	ref.digest != ""
	not scan.covered(ref)
	scan.repository(ref) in scan.report_repositories(report)
}

# A digest-pinned reference that a report without digests of its repository may be the scan of.
undigested_report_of(ref) if {
	ref.digest != ""
	some r in scan.reports
	r.is_image == true
	count(scan.report_digests(r)) == 0
	scan.repository(ref) in scan.report_repositories(r)
}

judging_workloads if {
	input.parameters.require_scans == true
	k8s.kind in k8s.workload_kinds
}

deploys(report) if {
	some reference in scan.deployed_images
	scan.covers(report, image.parse(reference))
}

# References of the change's reports for the same repository, to say what was scanned instead.
same_repository(ref) := sort({s |
	some r in scan.reports
	scan.repository(ref) in scan.report_repositories(r)
	some s in array.concat(scan.image_list(r, "references"), scan.image_list(r, "repo_digests"))
})

uncovered_message(e, scanned) := sprintf("container %q image %q has no scan report in this change; scan it and pass the report", [
	e.container.name, e.container.image,
]) if {
	count(scanned) == 0
} else := sprintf("container %q image %q is pinned to %s, but the change's scan reports of that repository are of other digests (%s); scan the deployed digest", [
	e.container.name, e.container.image, e.ref.digest, concat(", ", scanned),
]) if {
	e.ref.digest != ""
} else := sprintf("container %q image %q has no scan report for its tag; the change's scan reports of that repository are of %s", [
	e.container.name, e.container.image, concat(", ", scanned),
])

or_null(s) := s if s != "" else := null
