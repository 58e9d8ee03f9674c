# METADATA
# title: Deploy jobs and rollout waits have a timeout
# description: >-
#   A rollout that never becomes ready must fail the pipeline, not hang it.
#   Reports a deploy job (one that runs kubectl apply / set image, helm
#   upgrade, argocd app sync, a deploy action, or targets an environment)
#   without its own timeout (GitHub `timeout-minutes`, GitLab `timeout`), a
#   deploy job whose timeout is longer than max_job_timeout_minutes, and every
#   `kubectl rollout status` without `--timeout` (or a `timeout` command in
#   front of it). Without these, a stuck rollout holds the environment until
#   the CI system's default limit: 6 hours on GitHub, the project's limit
#   (1 hour by default) on GitLab. Medium because a missing timeout makes a
#   stuck rollout hang the pipeline until the CI system's limit instead of
#   failing fast; it does not cause the stuck rollout.
# scope: package
# custom:
#   id: pipeline.deploy_timeout
#   severity: medium
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:SA-10", "ISO27001:A.8.32"]
#   remediation: >-
#     Give the deploy job a timeout a little above its longest normal run
#     (GitHub `timeout-minutes: 20`, GitLab `timeout: 20m`) and wait for the
#     rollout with a deadline: `kubectl rollout status deployment/web
#     --timeout=10m`, so a rollout that cannot finish fails the job and can be
#     rolled back.
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       max_job_timeout_minutes:
#         type: integer
#         minimum: 1
#         default: 120
#         description: Longest acceptable timeout of a deploy job, in minutes.
#   example_allowed: |
#     jobs:
#       deploy:
#         runs-on: ubuntu-latest
#         timeout-minutes: 20
#         steps:
#         - run: kubectl rollout status deployment/web --timeout=10m
#   example_disallowed: |
#     jobs:
#       deploy:
#         runs-on: ubuntu-latest
#         steps:
#         - run: kubectl rollout status deployment/web
package rollguard.pipeline.deploy_timeout

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	job.deploys == true
	not is_number(job.timeout_minutes)
	d := {"job": job.id, "line": job.line, "timeout_minutes": null, "max_job_timeout_minutes": max_job_timeout_minutes}
	msg := sprintf("deploy job %q has no timeout: a stuck rollout holds the pipeline and the environment until the CI system's default limit; set %s", [job.id, timeout_key])
}

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	job.deploys == true
	is_number(job.timeout_minutes)
	job.timeout_minutes > max_job_timeout_minutes
	d := {"job": job.id, "line": job.line, "timeout_minutes": job.timeout_minutes, "max_job_timeout_minutes": max_job_timeout_minutes}
	msg := sprintf("deploy job %q may run for %v minutes, more than the %v allowed; lower %s", [job.id, job.timeout_minutes, max_job_timeout_minutes, timeout_key])
}

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	some c in job.deploy_commands
	c.verb == "rollout-status"
	c.timeout == false
	d := {"job": job.id, "line": c.line, "command": c.command}
	msg := sprintf("%q in job %q waits for the rollout without --timeout: a rollout that never becomes ready blocks the job instead of failing it", [c.command, job.id])
}

timeout_key := "timeout-minutes" if input.artifact.system == "github" else := "timeout"

max_job_timeout_minutes := input.parameters.max_job_timeout_minutes if {
	is_number(input.parameters.max_job_timeout_minutes)
	input.parameters.max_job_timeout_minutes > 0
} else := 120
