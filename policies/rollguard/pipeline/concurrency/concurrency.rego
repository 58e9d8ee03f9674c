# METADATA
# title: Deploys to one environment do not overlap
# description: >-
#   Two pipelines that roll out to the same environment at once interleave
#   their `kubectl apply`s and `helm upgrade`s: the older commit can win, and a
#   rollback can undo the wrong release. Reports every deploy job that targets
#   an environment without serialising on it (GitHub `concurrency` on the job
#   or the workflow, GitLab `resource_group`). Environments whose names start
#   with one of exempt_environment_prefixes (per-branch review apps by
#   default) are not judged. Medium because overlapping deploys need two
#   pipelines at the same moment, and the damage (an older commit winning) is
#   undone by the next deploy.
# scope: package
# custom:
#   id: pipeline.concurrency
#   severity: medium
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:CM-5", "ISO27001:A.8.32"]
#   remediation: >-
#     Serialise deploys per environment: GitHub `concurrency: {group: deploy-production,
#     cancel-in-progress: false}`, GitLab `resource_group: production`.
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       exempt_environment_prefixes:
#         type: array
#         items: {type: string}
#         default: ["review/"]
#         description: Environments whose names start with one of these are not judged.
#   example_allowed: |
#     deploy:
#       environment: production
#       resource_group: production
#       script: [kubectl apply -f k8s/]
#   example_disallowed: |
#     deploy:
#       environment: production
#       script: [kubectl apply -f k8s/]
package rollguard.pipeline.concurrency

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	job.deploys == true
	environment := job.environment.name
	is_string(environment)
	not exempt(environment)
	job.concurrency == null
	d := {"job": job.id, "line": job.line, "environment": environment}
	msg := sprintf("deploy job %q targets %s without %s: two pipelines can roll out to it at the same time and the older commit can win", [job.id, environment, setting_key])
}

exempt(name) if {
	some prefix in exempt_environment_prefixes
	is_string(prefix)
	startswith(name, prefix)
}

setting_key := "concurrency" if input.artifact.system == "github" else := "resource_group"

exempt_environment_prefixes := input.parameters.exempt_environment_prefixes if {
	is_array(input.parameters.exempt_environment_prefixes)
} else := ["review/"]
