# METADATA
# title: Deploys record the commit they ship
# description: >-
#   When something breaks, the first question is which change is running.
#   Reports a deploy job to a named environment that does not stamp the
#   commit or the pipeline run onto what it deploys. A stamp (the `stamps` of
#   docs/pipelines.md) is a kubectl, helm, helmfile, argocd, kustomize,
#   skaffold, oc, kapp, flux, kn, werf, gcloud, aws, az, sed, envsubst, yq or
#   ecs-deploy command that uses the commit or run id (`$GITHUB_SHA`, `${{
#   github.sha }}`, `github.run_id`, `$CI_COMMIT_SHA`, `$CI_COMMIT_SHORT_SHA`,
#   `$CI_COMMIT_TAG`, `$CI_PIPELINE_ID`, `$CI_JOB_ID`, `git rev-parse`, or a
#   variable set from one of them) — an image tag, `helm --set
#   image.tag=...` or `--description`, `kustomize edit set image`, `argocd app
#   set --revision`, a label or annotation; any
#   `kubernetes.io/change-cause` annotation; `kubectl ... --record`; an input
#   of a deploy action (Azure/k8s-deploy `images:`, ...) that uses the commit;
#   or a command starting with one of stamping_commands (deployers known to
#   tag with the commit themselves, such as GitLab's Auto DevOps
#   `auto-deploy deploy`). Image builds do not count: tagging the image built
#   says nothing about what is deployed. Jobs that only tear a deployment
#   down are not judged. Low because it affects diagnosis after the fact, not
#   the rollout.
# scope: package
# custom:
#   id: pipeline.traceability
#   severity: low
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:CM-8", "NIST-800-53:AU-10", "ISO27001:A.8.32"]
#   remediation: >-
#     Deploy an image tagged with the commit (`app:${{ github.sha }}`,
#     `app:$CI_COMMIT_SHA`) or its digest, and record the change: `kubectl
#     annotate deployment/web kubernetes.io/change-cause="$CI_COMMIT_SHA
#     pipeline $CI_PIPELINE_ID"`, `helm upgrade ... --set image.tag=$SHA
#     --description "$SHA"`, or `argocd app set web --revision $SHA`.
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       stamping_commands:
#         type: array
#         items: {type: string}
#         default: ["auto-deploy deploy", "ecs update-task-definition"]
#         description: >-
#           Commands (prefixes of a script line) that deploy an image tagged
#           with the commit by themselves; the defaults are GitLab's Auto
#           DevOps deployers, which use $CI_APPLICATION_TAG, else the commit
#           SHA.
#   example_allowed: |
#     deploy-production:
#       environment: production
#       script: [helm upgrade --install web ./chart --set image.tag=$CI_COMMIT_SHA]
#   example_disallowed: |
#     deploy-production:
#       environment: production
#       script: [helm upgrade --install web ./chart --set image.tag=latest]
package rollguard.pipeline.traceability

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	job.deploys == true
	not job.teardown == true
	environment := job.environment.name
	is_string(environment)
	count(job.stamps) == 0
	not stamped_by_deployer(job)
	d := {"job": job.id, "line": job.line, "environment": environment}
	msg := sprintf("job %q deploys to %s without stamping the commit or pipeline run onto what it deploys: nobody can tell from the cluster which change is running; deploy an image tagged %s or annotate kubernetes.io/change-cause", [job.id, environment, commit_variable])
}

stamped_by_deployer(job) if {
	some step in job.steps
	is_string(step.run)
	some prefix in stamping_commands
	is_string(prefix)
	prefix != ""
	contains(concat("", ["\n", step.run]), concat("", ["\n", prefix]))
}

commit_variable := "${{ github.sha }}" if input.artifact.system == "github" else := "$CI_COMMIT_SHA"

stamping_commands := input.parameters.stamping_commands if {
	is_array(input.parameters.stamping_commands)
} else := ["auto-deploy deploy", "ecs update-task-definition"]
