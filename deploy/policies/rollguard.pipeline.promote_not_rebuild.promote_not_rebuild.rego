# METADATA
# title: Later environments get the image built earlier, not a rebuild
# description: >-
#   Staging and production should run the very image that was built once and
#   tested before them; a rebuild pulls newer base images and dependencies,
#   so what ships is not what was tested. Reports every image build in a job
#   that deploys to a later environment: one that is not the first
#   environment of the pipeline (a job that deployed to another environment
#   finishes before it: its `needs`, followed transitively, or on GitLab an
#   earlier stage), or whose name matches later_environments (equal,
#   case-insensitively, or starting with one of them followed by "-", "_" or
#   "/"). A build is a `docker build`, `docker buildx build|bake`, `docker
#   compose build`, `podman|nerdctl|img|depot build`, `buildah bud|build`,
#   `buildctl build`, kaniko's executor, `az acr build`, `gcloud builds
#   submit`, `pack build`, `ko build|publish|apply|resolve`, `skaffold
#   build|run|dev`, `s2i build`, `oc start-build|new-build`, Jib, or an action
#   such as docker/build-push-action, docker/bake-action or
#   redhat-actions/buildah-build (the `builds_images` of docs/pipelines.md).
#   A job that declares no environment is judged by the one inferred from its
#   name, kubectl/helm namespace or context, helm release or deploy command
#   (`inferred_environment`). Medium because a rebuild of the same commit
#   usually differs only in base images and dependencies: the risk is untested
#   drift, not a broken rollout.
# scope: package
# custom:
#   id: pipeline.promote_not_rebuild
#   severity: medium
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:SI-7", "ISO27001:A.8.32", "SLSA:build"]
#   remediation: >-
#     Build the image once in a build job, push it, and pass its digest to the
#     deploy jobs (a job output or artifact); deploy `registry/app@sha256:...`
#     to staging and production instead of building again. To retag, use
#     `crane tag` or `docker buildx imagetools create`, which copy without
#     rebuilding.
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       later_environments:
#         type: array
#         items: {type: string}
#         default: ["staging", "prod", "production"]
#         description: >-
#           Environment names (or name prefixes) that always come after the
#           first deployment, wherever they sit in the pipeline.
#   example_allowed: |
#     build:
#       stage: build
#       script: [docker build -t $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA ., docker push $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA]
#     deploy-production:
#       stage: deploy
#       environment: production
#       script: [kubectl set image deployment/web web=$CI_REGISTRY_IMAGE@$IMAGE_DIGEST]
#   example_disallowed: |
#     deploy-production:
#       stage: deploy
#       environment: production
#       script:
#       - docker build -t $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA .
#       - kubectl set image deployment/web web=$CI_REGISTRY_IMAGE:$CI_COMMIT_SHA
package rollguard.pipeline.promote_not_rebuild

import data.rollguard.lib.pipeline

violation contains {"msg": msg, "details": d} if {
	some job in input.artifact.jobs
	job.deploys == true
	not job.teardown == true
	environment := pipeline.target_environment(job)
	why := later(job, environment)
	some build in job.builds_images
	d := object.union({"job": job.id, "line": build.line, "tool": build.tool}, pipeline.environment_details(job))
	msg := sprintf("job %q deploys to %s but builds an image itself with %s: what reaches %s is not the image tested before it; build once and deploy that image's digest", [job.id, pipeline.environment_phrase(job, why), build.tool, environment])
}

later(job, environment) := sprintf("after the pipeline deployed to %s", [concat(", ", sort(earlier))]) if {
	earlier := [name |
		some other in input.artifact.jobs
		other.id in job.after
		other.deploys == true
		name := pipeline.target_environment(other)
		name != environment
	]
	count(earlier) > 0
} else := "a later environment by name" if {
	named_later(environment)
}

named_later(name) if pipeline.environment_named(name, later_environments)

later_environments := input.parameters.later_environments if {
	is_array(input.parameters.later_environments)
} else := ["staging", "prod", "production"]
