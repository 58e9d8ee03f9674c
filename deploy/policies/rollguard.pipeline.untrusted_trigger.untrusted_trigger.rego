# METADATA
# title: Privileged workflows do not run pull-request code
# description: >-
#   `pull_request_target` and `workflow_run` workflows run in the context of
#   the base repository, with its secrets and a token that can write, even for
#   a pull request from a fork. Reports a GitHub job of such a workflow that
#   checks out the pull request's code (actions/checkout with a `ref` or
#   `repository` from github.event.pull_request.head.*, github.head_ref,
#   github.event.workflow_run.head_*, merge_commit_sha or refs/pull/..., also
#   through an `env` variable; or `git checkout|switch|fetch|pull` of such a
#   ref, or `gh pr checkout`) and then runs code (a later `run:` step, a local
#   `./` action, an image build, or a later command of the same `run:`) while
#   it holds secrets or write access: any `${{ secrets.* }}` the job can read
#   other than GITHUB_TOKEN (the token's power is its permissions, judged
#   next), `secrets: inherit`, or token permissions with a `write` scope
#   (including id-token, which mints cloud credentials) or no `permissions:`
#   at all (the repository default, which may be write). Critical: anyone who
#   can open a pull request can run code with the repository's secrets or write
#   token.
# scope: package
# custom:
#   id: pipeline.untrusted_trigger
#   severity: critical
#   controls: ["SOC2:CC6.1", "SOC2:CC8.1", "NIST-800-53:AC-6", "NIST-800-53:CM-5", "ISO27001:A.8.4", "SLSA:build"]
#   remediation: >-
#     Build and test pull requests in a `pull_request` workflow, which gets no
#     secrets and a read-only token for forks. If a privileged workflow must
#     act on the result, pass data (an artifact) and treat it as untrusted
#     input; never check out and run the head ref there. Otherwise set
#     `permissions: {contents: read}` and use no secrets in that job.
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     on: pull_request_target
#     permissions: {contents: read}
#     jobs:
#       label:
#         runs-on: ubuntu-latest
#         steps:
#         - uses: actions/labeler@8558fd74291d67161a8a78ce36a881fa63b766a9 # v5
#   example_disallowed: |
#     on: pull_request_target
#     jobs:
#       test:
#         runs-on: ubuntu-latest
#         steps:
#         - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
#           with:
#             ref: ${{ github.event.pull_request.head.sha }}
#         - run: npm ci && npm test
#           env:
#             NPM_TOKEN: ${{ secrets.NPM_TOKEN }}
package rollguard.pipeline.untrusted_trigger

violation contains {"msg": msg, "details": d} if {
	input.artifact.system == "github"
	triggers := [t | some t in input.artifact.triggers; t in {"pull_request_target", "workflow_run"}]
	count(triggers) > 0
	some job in input.artifact.jobs
	some checkout in job.checkouts
	checkout.untrusted == true
	is_number(checkout.runs_code_at)
	secrets := sort({s.name | some s in job.secrets_used; s.name != "GITHUB_TOKEN"})
	powers := array.concat(secret_power(secrets), write_power(job.permissions))
	count(powers) > 0
	d := {
		"job": job.id,
		"line": checkout.line,
		"triggers": triggers,
		"ref": code(checkout),
		"runs_code_at": checkout.runs_code_at,
		"secrets": secrets,
		"write": job.permissions.write,
	}
	msg := sprintf("job %q of a %s workflow checks out the pull request's code (%s) and runs it from line %d with %s: whoever opens a pull request can take them; build pull requests in a pull_request workflow instead", [job.id, concat("/", triggers), code(checkout), checkout.runs_code_at, concat(" and ", powers)])
}

code(checkout) := checkout.ref if is_string(checkout.ref) else := checkout.repository

secret_power(secrets) := [sprintf("secrets %s", [concat(", ", secrets)])] if {
	count(secrets) > 0
} else := []

write_power(permissions) := ["the repository's default token permissions, which may include write"] if {
	permissions.source == "default"
} else := [sprintf("write permissions (%s)", [concat(", ", permissions.write)])] if {
	count(permissions.write) > 0
} else := []
