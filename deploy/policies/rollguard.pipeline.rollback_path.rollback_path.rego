# METADATA
# title: Production deploys have a rollback path
# description: >-
#   When a production rollout fails, the pipeline itself should undo it or
#   stop it, not leave a half-rolled-out version serving traffic until someone
#   notices. Reports a deploy job whose environment is a production
#   environment (its name equals, case-insensitively, one of
#   production_environments, or starts with one followed by "-", "_" or "/")
#   when nothing in the pipeline runs on failure: no step or job with
#   `if: failure()` (GitHub), no job with `when: on_failure` (GitLab), and no
#   deploy command that rolls itself back (`helm upgrade --atomic` or
#   `--rollback-on-failure`). A GitHub job counts only when it is the deploy
#   job itself or needs it. A job that declares no environment is judged by
#   the one inferred from its name, kubectl/helm namespace or context, helm
#   release or deploy command (`inferred_environment`, docs/pipelines.md).
#   Medium because a failed rollout can still be rolled back by hand; an
#   automatic path only shortens the time it stays half done.
# scope: package
# custom:
#   id: pipeline.rollback_path
#   severity: medium
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:CP-10", "ISO27001:A.8.32"]
#   remediation: >-
#     Add a step that runs only on failure and undoes the rollout (GitHub:
#     `if: failure()` with `kubectl rollout undo deployment/web`; GitLab: a
#     `rollback` job with `when: on_failure`), or use `helm upgrade --atomic`.
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       production_environments:
#         type: array
#         items: {type: string}
#         default: ["prod", "production"]
#         description: Environment names (or name prefixes) that are production.
#   example_allowed: |
#     deploy:
#       environment: production
#       script: [kubectl apply -f k8s/]
#     rollback:
#       when: on_failure
#       script: [kubectl rollout undo deployment/web]
#   example_disallowed: |
#     deploy:
#       environment: production
#       script: [kubectl apply -f k8s/]
package rollguard.pipeline.rollback_path

import data.rollguard.lib.pipeline

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	job.deploys == true
	environment := pipeline.target_environment(job)
	production(environment)
	not recovers(job)
	d := object.union({"job": job.id, "line": job.line}, pipeline.environment_details(job))
	msg := sprintf("job %q deploys to %s but nothing in the pipeline runs on failure to roll it back or stop it: a failed rollout stays half done", [job.id, pipeline.environment_phrase(job, "")])
}

production(name) if pipeline.environment_named(name, production_environments)

recovers(job) if job.runs_on_failure == true

recovers(job) if {
	some c in job.deploy_commands
	some flag in ["--atomic", "--rollback-on-failure"]
	contains(c.command, flag)
}

recovers(job) if {
	input.artifact.system == "gitlab"
	some other in input.artifact.jobs
	other.runs_on_failure == true
}

recovers(job) if {
	input.artifact.system == "github"
	some other in input.artifact.jobs
	other.runs_on_failure == true
	job.id in other.needs
}

production_environments := input.parameters.production_environments if {
	is_array(input.parameters.production_environments)
} else := ["prod", "production"]
