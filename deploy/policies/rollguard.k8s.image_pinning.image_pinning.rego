# METADATA
# title: Container images are pinned
# description: >-
#   A rolling update is only reproducible and reversible when every pod runs the
#   same, known image. With the tag `latest` (or another tag listed in
#   disallowed_tags), or no tag at all (which means `latest`), pods started at
#   different moments of a rollout, a rescheduled pod
#   or a rollback can pull different code under the same manifest, and
#   `kubectl rollout undo` no longer restores what ran before. Where required
#   (parameter require_digest), a sha256 digest makes the reference immutable
#   even when a tag is moved. Images listed in exempt_images are not judged.
#   Judges every container, init container and
#   ephemeral container of Pods, Deployments, StatefulSets, DaemonSets,
#   ReplicaSets, ReplicationControllers, Jobs, CronJobs, Argo Rollouts and
#   DeploymentConfigs. High: with a mutable tag the pods of one rollout, a
#   rescheduled pod and a rollback run whatever the tag points to at that
#   moment, so the release is neither reproducible nor reversible.
# scope: package
# custom:
#   id: k8s.image_pinning
#   severity: high
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-2", "NIST-800-53:SI-7", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Pin {{ image }} (container {{ container }}) to an immutable version: a
#     release tag such as registry.example.com/shop/checkout:2.4.1, or better
#     the digest your build produced
#     (registry.example.com/shop/checkout:2.4.1@sha256:<64 hex>), which is
#     required when require_digest is true. Never deploy `latest` or an untagged
#     image.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       require_digest:
#         type: boolean
#         default: false
#         description: >-
#           Require every image to carry a @sha256 digest; a tag alone (even a
#           release tag) is then a violation, and a digest makes any tag acceptable.
#       disallowed_tags:
#         type: array
#         items: {type: string}
#         default: ["latest"]
#         description: >-
#           Mutable tags an image may not use without a digest (exact, case
#           sensitive), e.g. ["latest", "main"]. An image without any tag is
#           always a violation.
#       exempt_images:
#         type: array
#         items: {type: string}
#         default: []
#         description: >-
#           Images not judged at all: an exact image reference, or a prefix
#           ending in "*" (e.g. "registry.example.com/debug/*"), as in
#           Gatekeeper's exemptImages.
#   example_allowed: |
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2@sha256:3b4f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c
#   example_disallowed: |
#     containers:
#     - name: web
#       image: registry.example.com:5000/web
package rollguard.k8s.image_pinning

import data.rollguard.lib.image
import data.rollguard.lib.k8s

# One pass over the images: the pinned ones (nearly all) stop at the first test or two;
# exemptions, details and messages are only worked out for the others. Only the tag and the
# digest matter here. Without require_digest an image is pinned by any digest, or by a tag
# that is not mutable (disallowed_tags lists the non-empty mutable tags: "no tag" has its own
# message).
violation contains {"msg": msg, "details": d} if {
	some [c, tag, digest] in image.obj_image_versions
	digest == ""
	tag in unpinned_tags
	not require_digest
	not exempt(c.image)
	[msg, d] := finding(c, {"tag": tag, "digest": digest})
}

# With require_digest only a sha256 digest pins. (The parameter itself, not the
# require_digest rule: an equality on a constant lets OPA skip this rule without evaluating it.)
violation contains {"msg": msg, "details": d} if {
	input.parameters.require_digest == true
	some [c, tag, digest] in image.obj_image_versions
	not regex.match(`^sha256:[a-f0-9]{64}$`, digest)
	not exempt(c.image)
	[msg, d] := finding(c, {"tag": tag, "digest": digest})
}

# The tags that leave an image without a digest unpinned: none, and the mutable ones.
unpinned_tags := array.concat(tags, [""]) if {
	tags := input.parameters.disallowed_tags
	is_array(tags)
} else := ["latest", ""]

finding(c, ref) := [msg, d] if {
	require_digest
	d := {
		"container": c.name,
		"image": c.image,
		"tag": or_null(ref.tag),
		"digest": or_null(ref.digest),
		"path": k8s.container_field_path(c, "image"),
	}
	msg := sprintf("container %q image %q is not pinned by a @sha256 digest", [c.name, c.image])
} else := [msg, d] if {
	ref.tag == ""
	d := {"container": c.name, "image": c.image, "tag": null, "digest": null, "path": k8s.container_field_path(c, "image")}
	msg := sprintf("container %q image %q has no tag, so it runs whatever \"latest\" points to", [c.name, c.image])
} else := [msg, d] if {
	d := {"container": c.name, "image": c.image, "tag": ref.tag, "digest": null, "path": k8s.container_field_path(c, "image")}
	msg := sprintf("container %q image %q uses the mutable tag %q", [c.name, c.image, ref.tag])
}

require_digest if input.parameters.require_digest == true

exempt(reference) if {
	is_array(input.parameters.exempt_images)
	some pattern in input.parameters.exempt_images
	is_string(pattern)
	exemption_matches(reference, pattern)
}

# Gatekeeper's exemptImages: an exact reference, or a prefix when ending in "*".
exemption_matches(reference, pattern) if {
	not endswith(pattern, "*")
	reference == pattern
}

exemption_matches(reference, pattern) if {
	endswith(pattern, "*")
	startswith(reference, trim_suffix(pattern, "*"))
}

or_null(s) := s if s != "" else := null
