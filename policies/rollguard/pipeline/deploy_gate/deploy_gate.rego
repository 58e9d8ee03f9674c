# METADATA
# title: High-risk deploys wait for an approval or a smoke-tested first batch
# description: >-
#   A release should reach a high-risk environment only after a person said
#   yes or after its first batch (a canary, staging) passed a smoke test.
#   Reports a deploy job to a high-risk environment that has neither an
#   approval (GitLab `when: manual` on the job or a rule; GitHub a job
#   `environment`, whose required reviewers live in the repository settings,
#   unless trust_github_environments is false) nor an earlier job that runs
#   smoke tests: a job that finishes before it (its `needs`, followed
#   transitively; on GitLab without `needs`, any job of an earlier stage)
#   whose `smoke_tests` are not empty. Smoke tests are recognised by a job or
#   step name containing smoke, e2e, end-to-end or health-check, a command
#   containing smoke or e2e, `curl` with `--fail`/`-f` on a health URL
#   (`/health*`, `/healthz`, `/readyz`, `/livez`, `/ready`, `/ping`,
#   `/status`), `kubectl rollout status` of a canary, and `helm test`. An
#   environment is high-risk when its name matches high_risk_environments
#   (equal, case-insensitively, or starting with one of them followed by "-",
#   "_" or "/") or when rollguard.yaml `environments:` gives it `risk: high`
#   (data.rollguard.context.environments). A job that declares no
#   environment is judged by the one inferred from its name, kubectl/helm
#   namespace or context, helm release or deploy command
#   (`inferred_environment`, docs/pipelines.md); on GitHub it has no
#   environment whose reviewers could gate it, so only an earlier smoke test
#   counts. Medium because deploying to production on merge, with the review in
#   the merge request, is a sound continuous-deployment practice the pipeline
#   file cannot show: a missing gate widens a bad release's reach but does not
#   break the rollout.
# scope: package
# custom:
#   id: pipeline.deploy_gate
#   severity: medium
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:CM-4", "ISO27001:A.8.32"]
#   remediation: >-
#     Put a gate in front of the job: GitLab `when: manual` (with `allow_failure:
#     false`), or a GitHub environment with required reviewers; or deploy a
#     canary or staging first and make this job depend on a job that smoke
#     tests it (`curl --fail https://canary.example.com/healthz`, `helm test`,
#     an e2e suite). A GitHub job without `environment:` must declare one
#     first: required reviewers belong to an environment.
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       high_risk_environments:
#         type: array
#         items: {type: string}
#         default: ["prod", "production"]
#         description: Environment names (or name prefixes) that are high-risk.
#       trust_github_environments:
#         type: boolean
#         default: true
#         description: >-
#           Take a GitHub job's `environment` as an approval gate. Set to false
#           when your environments have no required reviewers.
#   example_allowed: |
#     smoke-canary:
#       stage: canary
#       script: [curl --fail https://canary.example.com/healthz]
#     deploy-production:
#       stage: production
#       environment: production
#       script: [kubectl apply -f k8s/]
#   example_disallowed: |
#     deploy-production:
#       stage: production
#       environment: production
#       script: [kubectl apply -f k8s/]
package rollguard.pipeline.deploy_gate

import data.rollguard.lib.pipeline

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	job.deploys == true
	not job.teardown == true
	environment := pipeline.target_environment(job)
	why := high_risk(environment)
	not approved(job)
	not smoke_tested(job)
	d := object.union({"job": job.id, "line": job.line}, pipeline.environment_details(job))
	msg := sprintf("job %q deploys to %s with no approval and no earlier job that smoke-tests a first batch: a bad release reaches everyone before anyone has looked at it; %s", [job.id, pipeline.environment_phrase(job, why), advice(job, environment)])
}

high_risk(environment) := "high risk in rollguard.yaml" if {
	some name, settings in data.rollguard.context.environments
	is_string(name)
	lower(name) == lower(environment)
	settings.risk == "high"
} else := "a production environment" if {
	production(environment)
}

approved(job) if {
	job.approval == true
	input.artifact.system != "github"
}

approved(job) if {
	job.approval == true
	input.artifact.system == "github"
	trust_github_environments
}

smoke_tested(job) if {
	some other in input.artifact.jobs
	other.id in job.after
	count(other.smoke_tests) > 0
}

production(name) if pipeline.environment_named(name, high_risk_environments)

# An inferred environment has no protection rules to add reviewers to: the job must declare one first.
advice(job, environment) := sprintf("declare `environment: %s` on the job and give that environment required reviewers in the repository settings, or make the job need a job that smoke-tests a canary or staging deployment", [environment]) if {
	input.artifact.system == "github"
	pipeline.inferred(job)
} else := "add required reviewers to the environment, or make the job need a job that smoke-tests a canary or staging deployment" if {
	input.artifact.system == "github"
} else := sprintf("declare `environment: %s` on the job and add `when: manual`, or smoke-test a canary or staging deployment in an earlier stage", [environment]) if {
	pipeline.inferred(job)
} else := "add `when: manual`, or smoke-test a canary or staging deployment in an earlier stage"

trust_github_environments := input.parameters.trust_github_environments if {
	is_boolean(input.parameters.trust_github_environments)
} else := true

high_risk_environments := input.parameters.high_risk_environments if {
	is_array(input.parameters.high_risk_environments)
} else := ["prod", "production"]
