# METADATA
# title: Workloads of one service run close versions
# description: >-
#   The workloads of one service (an API and its workers, or one per region)
#   talk to each other and share data; a change that leaves them more than a
#   release or two apart runs a combination nobody tested. Judges every
#   Deployment, StatefulSet, DaemonSet, Argo Rollout and DeploymentConfig
#   against the other workloads of the inventory, in every namespace, with the
#   same `app.kubernetes.io/name` label: their `app.kubernetes.io/version`
#   labels (on the object or its pod template) may differ by at most
#   max_minor_skew minor versions, and not in their major version. Versions
#   are read as `v1.2.3`, `1.2.3`, `1.2` with an optional pre-release or build
#   suffix; other versions (`latest`, dates, commit ids) are not judged. Medium
#   because many services tolerate a wider skew by design (raise
#   max_minor_skew), and a skew breaks nothing until two versions disagree on an
#   interface.
# scope: package
# custom:
#   id: changeset.version_skew
#   severity: medium
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Roll the lagging workloads forward in the same change, or raise
#     max_minor_skew when the service is built to tolerate a wider skew.
#   case_remediation:
#     major_skew: >-
#       Bring every workload of {{ service }} to one major version ({{ version }}
#       here, {{ other_version }} in {{ other }}): roll the lagging one forward
#       in the same change.
#     minor_skew: >-
#       Roll the lagging workload of {{ service }} forward in the same change
#       ({{ version }} here, {{ other_version }} in {{ other }}), or raise
#       max_minor_skew (now {{ max_minor_skew }}) when the service is built to
#       tolerate a wider skew.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       max_minor_skew:
#         type: integer
#         minimum: 0
#         default: 1
#         description: Largest difference in minor version allowed between workloads of one service.
#   example_allowed: |
#     # api: app.kubernetes.io/version: "2.4.1"; worker: "2.3.0"
#     metadata:
#       labels: {app.kubernetes.io/name: checkout, app.kubernetes.io/version: "2.4.1"}
#   example_disallowed: |
#     # api: app.kubernetes.io/version: "2.4.1"; worker: "2.1.0"
#     metadata:
#       labels: {app.kubernetes.io/name: checkout, app.kubernetes.io/version: "2.4.1"}
package rollguard.changeset.version_skew

import data.rollguard.lib.changeset
import data.rollguard.lib.k8s

name_label := "app.kubernetes.io/name"

version_label := "app.kubernetes.io/version"

max_skew := n if {
	n := input.parameters.max_minor_skew
	is_number(n)
	n >= 0
} else := 1

own_labels := changeset.obj_labels

# own_labels[name_label], read where it is: the object's own labels win over its pod
# template's, and most workloads carry the name on the object itself.
service := name if {
	name := input.review.object.metadata.labels["app.kubernetes.io/name"]
} else := name if {
	name := k8s.obj_pod_labels["app.kubernetes.io/name"]
}

own_version := own_labels[version_label]

own_semver := changeset.semver(own_version)

# Where the version label is: the object's own labels win over its pod template's.
version_path := sprintf(`metadata.labels["%s"]`, [version_label]) if {
	labels := k8s.obj.metadata.labels
	is_object(labels)
	labels[version_label]
} else := sprintf(`%s.labels["%s"]`, [k8s.obj_pod_metadata_path, version_label])

# The other workloads of the service with a readable version.
peers contains {"workload": changeset.display(w), "version": v, "semver": sv} if {
	is_string(service)
	changeset.has_other("names", changeset.rollout_kinds, service)
	some w in changeset.service_candidates(changeset.rollout_kinds, service)
	changeset.identity(w) != changeset.reviewed
	labels := changeset.labels(w.object)
	labels[name_label] == service
	v := labels[version_label]
	sv := changeset.semver(v)
}

violation contains {"msg": msg, "details": d} if {
	some p in peers
	[msg, d] := finding(p)
}

finding(p) := [msg, d] if {
	p.semver.major != own_semver.major
	d := {
		"service": service,
		"version": own_version,
		"other": p.workload,
		"other_version": p.version,
		"case": "major_skew",
		"path": version_path,
	}
	msg := sprintf(
		"runs %s %s while %s runs %s: the major versions differ",
		[service, own_version, p.workload, p.version],
	)
}

finding(p) := [msg, d] if {
	p.semver.major == own_semver.major
	skew := abs(p.semver.minor - own_semver.minor)
	skew > max_skew
	d := {
		"service": service,
		"version": own_version,
		"other": p.workload,
		"other_version": p.version,
		"minor_skew": skew,
		"max_minor_skew": max_skew,
		"case": "minor_skew",
		"path": version_path,
	}
	msg := sprintf(
		"runs %s %s while %s runs %s: %d minor versions apart, more than the %v allowed",
		[service, own_version, p.workload, p.version, skew, max_skew],
	)
}
