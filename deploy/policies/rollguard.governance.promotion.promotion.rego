# METADATA
# title: Images reach an environment only through the previous one
# description: >-
#   With a promotion path in rollguard.yaml (`promotion: dev -> staging ->
#   prod`), every image a change deploys to an environment must already have
#   passed the environment before it: the decision store (--store) must hold a
#   passed, non-dry-run decision for the previous environment whose change
#   carried the same image digest. Reports each image whose digest the previous
#   environment never passed, each image without an @sha256 digest (its
#   promotion cannot be proven; switch require_digest off to leave those to
#   k8s.image_pinning), and, when no store was given, that promotion cannot be
#   verified. The first environment of the path, and an environment not on
#   it, are not judged. High: a configured promotion path is only a control if
#   an image that skipped the previous environment, or whose promotion cannot be
#   proven, is stopped.
# scope: package
# custom:
#   id: governance.promotion
#   severity: high
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:SA-10", "ISO27001:A.8.32"]
#   remediation: >-
#     Deploy the same image digests to the previous environment first and
#     record the decision there (`rollguard check --env staging --record --store
#     ...`), pin images by digest, and pass the same --store when checking this
#     environment.
#   applies_to: [ChangeRequest]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       require_digest:
#         type: boolean
#         default: true
#         description: >-
#           Report images without an @sha256 digest, whose promotion cannot be
#           proven. Off: leave them to k8s.image_pinning.
#   example_allowed: |
#     # rollguard check k8s/ --env prod --store sqlite:///decisions.db
#     # web@sha256:4f1c... passed `--env staging --record` in that store before
#   example_disallowed: |
#     # rollguard check k8s/ --env prod --store sqlite:///decisions.db
#     # web@sha256:4f1c... was never passed in staging
package rollguard.governance.promotion

promotion := data.rollguard.context.promotion

environment := data.rollguard.context.environment.name

previous := promotion.previous if is_string(promotion.previous)

passed := {d | some d in promotion.passed_digests}

violation contains {"msg": msg, "details": d} if {
	previous
	promotion.store != true
	d := {"environment": environment, "previous": previous}
	msg := sprintf("cannot verify promotion: no decision store (give --store, or `store:` in rollguard.yaml, or record into .rollguard/decisions.db); images deployed to %s must have passed %s first", [environment, previous])
}

violation contains {"msg": msg, "details": d} if {
	previous
	promotion.store == true
	unreadable
	d := {"environment": environment, "previous": previous, "error": promotion.error}
	msg := sprintf("cannot verify promotion: the decision store could not be read (%s); images deployed to %s must have passed %s first", [promotion.error, environment, previous])
}

violation contains {"msg": msg, "details": d} if {
	previous
	promotion.store == true
	not unreadable
	some image in input.artifact.images
	is_string(image.digest)
	not passed[image.digest]
	d := object.union(shown(image), {"digest": image.digest})
	msg := sprintf("image %s of %s (%s:%v) has not passed %s: no passed, non-dry-run decision there deployed digest %s; promote it through %s first", [image.image, image.workload, image.file, image.line, previous, image.digest, previous])
}

violation contains {"msg": msg, "details": d} if {
	previous
	promotion.store == true
	not unreadable
	require_digest
	some image in input.artifact.images
	not is_string(image.digest)
	d := shown(image)
	msg := sprintf("image %s of %s (%s:%v) has no @sha256 digest, so its promotion from %s cannot be proven; pin it by digest", [image.image, image.workload, image.file, image.line, previous])
}

# The store was given but could not be read (rollguard passes why).
unreadable if is_string(object.get(promotion, "error", null))

require_digest if not input.parameters.require_digest == false

shown(image) := {
	"environment": environment,
	"previous": previous,
	"image": image.image,
	"workload": image.workload,
	"source": sprintf("%s:%v", [image.file, image.line]),
}
