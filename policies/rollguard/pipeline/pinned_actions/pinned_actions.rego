# METADATA
# title: Actions and job images are pinned
# description: >-
#   A deploy pipeline holds the credentials of production, so every piece of
#   code it runs must be exactly the code that was reviewed. A tag or branch
#   of an action (`@v4`, `@main`) can be moved by whoever controls the action's
#   repository; only a full 40-character commit SHA cannot. Reports every
#   action and reusable workflow not pinned to a commit SHA (`docker://`
#   actions need an image digest) — including GitHub's own `actions/` and
#   `github/` owners unless trusted_owners lists them — and every job image
#   (GitHub `container`, GitLab `image`) that has no tag or is tagged `:latest`
#   and has no digest. Actions in the same repository (`./path`) are not judged.
#   High: a moved tag runs someone else's code with the pipeline's production
#   credentials, as in the compromise of tj-actions/changed-files;
#   trusted_owners exempts owners you trust.
# scope: package
# custom:
#   id: pipeline.pinned_actions
#   severity: high
#   controls: ["SOC2:CC8.1", "NIST-800-53:SA-10", "NIST-800-53:SR-11", "NIST-800-53:CM-14", "SLSA:build"]
#   remediation: >-
#     Pin each action to the commit its tag points at and keep the tag in a
#     comment (`uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 #
#     v4.2.2`); let Dependabot or Renovate bump the SHAs. Give job images a
#     version tag, better a digest (`image: alpine/k8s:1.31.2@sha256:...`).
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       trusted_owners:
#         type: array
#         items: {type: string}
#         default: []
#         description: >-
#           Action owners (the part before the first "/") whose tags are
#           trusted, e.g. "actions"; compared case-insensitively.
#   example_allowed: |
#     steps:
#     - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
#   example_disallowed: |
#     steps:
#     - uses: actions/checkout@v4
package rollguard.pipeline.pinned_actions

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	some action in job.actions_used
	action.pinned_sha == false
	not trusted(action)
	d := {"job": job.id, "line": action.line, "uses": action.uses, "ref": action.ref}
	msg := sprintf("job %q uses %s, which is not pinned to a full commit SHA: whoever controls that repository can change what runs with this pipeline's credentials; pin it to a 40-character commit SHA", [job.id, action.uses])
}

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	image := job.image
	is_object(image)
	image.digest == null
	some reason in floating(image)
	d := {"job": job.id, "line": image.line, "image": image.ref}
	msg := sprintf("job %q runs in image %s, which %s: every run may get different tools; use a version tag or a digest", [job.id, image.ref, reason])
}

floating(image) := {"has no tag, so latest is pulled"} if {
	image.tag == null
} else := {"is tagged :latest"} if {
	image.tag == "latest"
} else := set()

trusted(action) if {
	is_string(action.owner)
	some owner in trusted_owners
	is_string(owner)
	lower(owner) == lower(action.owner)
}

trusted_owners := input.parameters.trusted_owners if is_array(input.parameters.trusted_owners) else := []
