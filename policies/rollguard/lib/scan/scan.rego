# METADATA
# title: Image scan helpers
# description: >-
#   Shared helpers for rollguard's image policies: the scan reports of the change,
#   Trivy severity ranks, matching deployed image references to scan reports (by
#   digest, else by name and tag) and vulnerability exceptions.
# scope: package
package rollguard.lib.scan

import data.rollguard.lib.image
import data.rollguard.lib.k8s

severity_rank := {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

# The ImageScan documents of the change (data.rollguard.changeset.scan).
reports := [r |
	some r in data.rollguard.changeset.scan
	is_object(r)
]

# A severity parameter as a rank; anything malformed falls back to HIGH.
threshold(value) := severity_rank[upper(value)] if {
	is_string(value)
	severity_rank[upper(value)]
} else := 3

at_or_above(severity, rank) if severity_rank[severity] >= rank

# How findings name a report: its image reference, else the scanned artifact.
display(report) := report.metadata.name if {
	is_string(report.metadata.name)
} else := "the scanned artifact"

# A string field for messages; sprintf prints null differently on each engine.
text(value) := value if is_string(value) else := "?"

# --- matching deployed images to reports ---

# name:tag key of a parsed reference; no tag means "latest", as the container runtime reads it.
tag_key(ref) := concat("", [ref.domain, "/", ref.path, ":", tag]) if {
	tag := ref.tag
	tag != ""
} else := concat("", [ref.domain, "/", ref.path, ":latest"])

repository(ref) := concat("/", [ref.domain, ref.path])

# Parsed references a report names: RepoTags, the scanned reference and RepoDigests.
report_refs(report) := [image.parse(s) |
	some s in array.concat(image_list(report, "references"), image_list(report, "repo_digests"))
]

# The strings of a list field of a report's `image`; [] when absent or malformed.
image_list(report, key) := [s |
	some s in report.image[key]
	is_string(s)
]

report_tag_keys(report) := {tag_key(p) |
	some p in report_refs(report)
	is_tagged(p)
}

# A digest-only reference (repo@sha256:...) says nothing about tags.
is_tagged(p) if p.digest == ""

is_tagged(p) if p.tag != ""

report_repositories(report) := {repository(p) | some p in report_refs(report)}

report_digests(report) := {d | some d in image_list(report, "digests")}

# A report covers a deployed reference pinned by digest when it names that digest...
covers(report, ref) if {
	ref.digest != ""
	ref.digest in report_digests(report)
}

# ...and one referenced by tag when it names the same repository and tag.
covers(report, ref) if {
	ref.digest == ""
	tag_key(ref) in report_tag_keys(report)
}

covered(ref) if {
	some r in reports
	covers(r, ref)
}

# Every image of every workload in data.inventory (the change's own objects on the command line).
deployed_images := {c.image |
	some ns_objects in data.inventory.namespace
	some by_kind in ns_objects
	some kind, objects in by_kind
	kind in k8s.workload_kinds
	some obj in objects
	some c in k8s.all_containers(obj)
	is_string(c.image)
	c.image != ""
}

# --- vulnerability exceptions (rollguard.yaml `vulnerability_exceptions`) ---

exceptions := [e |
	some e in data.rollguard.exceptions
	is_object(e)
	is_string(e.id)
]

now_ns := data.rollguard.context.now_ns if is_number(data.rollguard.context.now_ns)

has_reason(e) if {
	is_string(e.reason)
	trim_space(e.reason) != ""
}

expired(e) if not is_number(e.expires_ns)

expired(e) if now_ns >= e.expires_ns

# An exception holds when it is unexpired and says why: a bare or lapsed one silences nothing.
in_force(e) if {
	has_reason(e)
	not expired(e)
}

exception_image(e) := e.image if is_string(e.image) else := "*"

# Strings that name a report's image, as written and normalised (docker.io/library/...).
report_names(report) := {n |
	some s in array.concat(image_list(report, "references"), image_list(report, "repo_digests"))
	some n in [s, image.parse(s).normalized]
} | {n |
	some p in report_refs(report)
	n := repository(p)
} | {n |
	is_string(report.image.name)
	some n in [report.image.name, repository(image.parse(report.image.name))]
}

# An exception's `image`: "*" (every image), a prefix ending in "*", or an exact reference.
applies_to_report(e, report) if exception_image(e) == "*"

applies_to_report(e, report) if {
	pattern := exception_image(e)
	pattern != "*"
	endswith(pattern, "*")
	prefix := trim_suffix(pattern, "*")
	some n in report_names(report)
	startswith(n, prefix)
}

applies_to_report(e, report) if {
	pattern := exception_image(e)
	not endswith(pattern, "*")
	names := report_names(report)
	some n in {pattern, image.parse(pattern).normalized}
	n in names
}

# Ids of the exceptions in force for vulnerability `v` of `report`.
excepted_by(report, v) := {e.id |
	some e in exceptions
	in_force(e)
	is_string(e.cve)
	upper(e.cve) == upper(v.id)
	applies_to_report(e, report)
}

excepted(report, v) if count(excepted_by(report, v)) > 0

# The details every vulnerability finding carries; `line` points at it in the JSON report.
vulnerability_details(report, v) := {
	"id": v.id,
	"package": object.get(v, "package", null),
	"installed": object.get(v, "installed", null),
	"fixed": object.get(v, "fixed", null),
	"status": object.get(v, "status", null),
	"severity": v.severity,
	"cvss": object.get(v, "cvss", null),
	"target": object.get(v, "target", null),
	"image": display(report),
	"line": object.get(v, "line", null),
}
