package rollguard.image.scan_coverage_test

import data.rollguard.image.scan_coverage
import data.rollguard.lib.testing

d1 := "sha256:3b4f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"

d2 := "sha256:9d1e0f3a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e"

repo := "registry.example.com/shop/app"

deployment(images) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "app", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": [{"name": sprintf("c%d", [i]), "image": img} | some i, img in images]}}},
}

# A report as the loader writes it (only the fields the policy reads).
report(tags, digests) := {
	"kind": "ImageScan",
	"is_image": true,
	"metadata": {"name": concat("", [repo, ":", tags[0]])},
	"image": {
		"references": [concat(":", [repo, t]) | some t in tags],
		"repo_digests": [concat("@", [repo, d]) | some d in digests],
		"digests": digests,
	},
}

workload(images, reports, parameters) := v if {
	o := deployment(images)
	v := scan_coverage.violation with input as testing.review(o, parameters)
		with data.rollguard.changeset.scan as reports
}

scan_side(r, images) := v if {
	v := scan_coverage.violation with input as {"artifact": r, "parameters": {"require_scans": false}}
		with data.rollguard.changeset.scan as [r]
		with data.inventory as testing.inventory([deployment(images)])
}

off := {"require_scans": false}

test_digest_match_is_covered if {
	count(workload([concat("@", [repo, d1])], [report(["1.0"], [d1])], off)) == 0
	count(workload([concat("", [repo, ":1.0@", d1])], [report(["2.0"], [d1])], off)) == 0
}

test_other_digest_is_reported if {
	img := concat("@", [repo, d2])
	workload([img], [report(["1.0"], [d1])], off) == {{
		"msg": sprintf("container \"c0\" image %q is pinned to %s, but the change's scan reports of that repository are of other digests (%s, %s); scan the deployed digest", [img, d2, concat(":", [repo, "1.0"]), concat("@", [repo, d1])]),
		"details": {"container": "c0", "image": img, "digest": d2, "scanned": [concat(":", [repo, "1.0"]), concat("@", [repo, d1])], "case": "unscanned", "path": "spec.template.spec.containers[0].image"},
	}}
}

test_tag_match_is_covered if {
	count(workload([concat(":", [repo, "1.0"])], [report(["1.0"], [d1])], off)) == 0
	count(workload(["nginx"], [object.union(report(["x"], []), {"image": {"references": ["docker.io/library/nginx:latest"]}})], off)) == 0
}

test_other_tag_is_reported if {
	img := concat(":", [repo, "1.1"])
	workload([img], [report(["1.0"], [])], off) == {{
		"msg": sprintf("container \"c0\" image %q has no scan report for its tag; the change's scan reports of that repository are of %s", [img, concat(":", [repo, "1.0"])]),
		"details": {"container": "c0", "image": img, "digest": null, "scanned": [concat(":", [repo, "1.0"])], "case": "unscanned", "path": "spec.template.spec.containers[0].image"},
	}}
}

test_unscanned_sidecar_is_reported if {
	v := workload([concat(":", [repo, "1.0"]), "docker.io/envoyproxy/envoy:v1.30.1"], [report(["1.0"], [d1])], off)
	v == {{
		"msg": "container \"c1\" image \"docker.io/envoyproxy/envoy:v1.30.1\" has no scan report in this change; scan it and pass the report",
		"details": {"container": "c1", "image": "docker.io/envoyproxy/envoy:v1.30.1", "digest": null, "scanned": [], "case": "unscanned", "path": "spec.template.spec.containers[1].image"},
	}}
}

test_no_reports_means_not_judged_unless_required if {
	count(workload(["nginx:1.25"], [], off)) == 0
	v := workload(["nginx:1.25"], [], {"require_scans": true})
	{x.details.image | some x in v} == {"nginx:1.25"}
}

test_non_workloads_are_not_judged if {
	svc := {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
	count(scan_coverage.violation) == 0 with input as {"review": {"object": svc, "kind": {"kind": "Service"}}, "parameters": {"require_scans": true}}
}

test_report_of_an_undeployed_image_is_reported if {
	r := report(["1.0"], [d1])
	scan_side(r, ["registry.example.com/shop/web:2.0"]) == {{
		"msg": "the scan report of registry.example.com/shop/app:1.0 matches no image deployed by this change (deployed: registry.example.com/shop/web:2.0); scan the images you deploy",
		"details": {"case": "report_not_deployed", "image": "registry.example.com/shop/app:1.0", "digests": [d1], "deployed": ["registry.example.com/shop/web:2.0"]},
	}}
}

test_report_of_a_deployed_image_passes if {
	count(scan_side(report(["1.0"], [d1]), [concat("@", [repo, d1]), "nginx:1.25"])) == 0
	count(scan_side(report(["1.0"], [d1]), [concat(":", [repo, "1.0"])])) == 0
}

test_report_alone_or_of_a_repository_is_not_judged if {
	r := report(["1.0"], [d1])
	count(scan_coverage.violation) == 0 with input as {"artifact": r, "parameters": off} with data.rollguard.changeset.scan as [r]
	fs := object.union(r, {"is_image": false})
	count(scan_side(fs, ["nginx:1.25"])) == 0
}

# --- reports without digests (scanned before the image was pushed) ---

test_report_without_digests_and_a_pinned_workload_is_said_once_on_the_report if {
	pinned := concat("@", [repo, d1])
	undigested := report(["1.2"], [])
	scan_side(undigested, [pinned]) == {{
		"msg": sprintf("the scan report of %s:1.2 names no digest (no Metadata.RepoDigests: the image was scanned before it was pushed), so it cannot be matched to %s, which this change deploys pinned by digest; its vulnerabilities are judged, but nothing shows they are the deployed image's: scan the pushed image by its digest", [repo, pinned]),
		"details": {"case": "report_without_digest", "image": concat(":", [repo, "1.2"]), "digests": [], "pinned": [pinned]},
	}}

	# The workload itself is not reported as unscanned: the report may well be of its bytes.
	count(workload([pinned], [undigested], off)) == 0
}

test_report_without_digests_matched_by_tag_or_alone_is_judged_quietly if {
	undigested := report(["1.2"], [])

	# The tag the workload deploys is the tag the report names.
	count(scan_side(undigested, [concat(":", [repo, "1.2"])])) == 0
	count(workload([concat(":", [repo, "1.2"])], [undigested], off)) == 0

	# No workload in the change: nothing to match.
	count(scan_coverage.violation) == 0 with input as {"artifact": undigested, "parameters": off}
		with data.rollguard.changeset.scan as [undigested]
		with data.inventory as {}
}

test_report_without_digests_when_the_pinned_digest_has_its_own_report if {
	pinned := concat("@", [repo, d1])
	undigested := report(["1.2"], [])
	found := scan_coverage.violation with input as {"artifact": undigested, "parameters": off}
		with data.rollguard.changeset.scan as [undigested, report(["1.0"], [d1])]
		with data.inventory as testing.inventory([deployment([pinned])])

	# The pinned image is covered, so this report is of something else and is reported as such.
	[f.details.deployed | some f in found] == [[pinned]]
}

test_report_without_digests_of_another_repository if {
	other := "registry.example.com/shop/cart@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	undigested := report(["1.2"], [])
	[f.details.deployed | some f in scan_side(undigested, [other])] == [[other]]
	[f.details.image | some f in workload([other], [undigested], off)] == [other]
}
