package rollguard.pipeline.promote_not_rebuild_test

import data.rollguard.pipeline.promote_not_rebuild

job(id, env, after, builds) := {
	"id": id,
	"line": 3,
	"deploys": true,
	"teardown": false,
	"environment": {"name": env, "url": null, "action": null},
	"after": after,
	"builds_images": builds,
}

docker := {"tool": "docker", "command": "docker build -t web .", "line": 9}

run(jobs, parameters) := v if {
	v := promote_not_rebuild.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": "gitlab", "jobs": jobs},
		"parameters": parameters,
	}
}

test_rebuild_after_an_earlier_environment if {
	canary := job("canary", "canary", [], [])
	live := job("live", "live", ["build", "canary"], [docker])
	run([canary, live], {}) == {{
		"msg": "job \"live\" deploys to live (after the pipeline deployed to canary) but builds an image itself with docker: what reaches live is not the image tested before it; build once and deploy that image's digest",
		"details": {"job": "live", "line": 9, "environment": "live", "tool": "docker"},
	}}
}

test_rebuild_in_an_environment_named_later if {
	run([job("deploy", "Production", [], [docker])], {}) == {{
		"msg": "job \"deploy\" deploys to Production (a later environment by name) but builds an image itself with docker: what reaches Production is not the image tested before it; build once and deploy that image's digest",
		"details": {"job": "deploy", "line": 9, "environment": "Production", "tool": "docker"},
	}}
	count(run([job("deploy", "staging-eu", [], [docker])], {})) == 1
	count(run([job("deploy", "prodigy", [], [docker])], {})) == 0
}

test_first_environment_may_build if {
	count(run([job("canary", "canary", [], [docker])], {})) == 0

	# A job that deploys to the same environment earlier does not make it later.
	first := job("canary-a", "canary", [], [])
	count(run([first, job("canary-b", "canary", ["canary-a"], [docker])], {})) == 0

	# Nor does an earlier job that deploys nothing.
	build := object.union(job("build", "canary", [], [docker]), {"deploys": false, "environment": null})
	count(run([build, job("canary", "canary", ["build"], [docker])], {})) == 0
}

test_promoting_without_a_build if {
	count(run([job("canary", "canary", [], []), job("live", "production", ["canary"], [])], {})) == 0
}

test_one_finding_per_build if {
	kaniko := {"tool": "executor", "command": "/kaniko/executor --destination x", "line": 12}
	found := run([job("deploy", "production", [], [docker, kaniko])], {})
	{v.details.line | some v in found} == {9, 12}
}

test_parameter_and_teardown if {
	count(run([job("deploy", "live", [], [docker])], {"later_environments": ["live"]})) == 1
	count(run([job("deploy", "production", [], [docker])], {"later_environments": ["live"]})) == 0
	count(run([object.union(job("deploy", "production", [], [docker]), {"teardown": true})], {})) == 0
	count(run([object.union(job("deploy", "production", [], [docker]), {"deploys": false})], {})) == 0
}

guess(env, from, value) := {"environment": null, "inferred_environment": {"name": env, "inferred_from": from, "value": value, "line": 3}}

test_rebuild_in_an_inferred_environment if {
	deploy := object.union(job("deploy", "ignored", [], [docker]), guess("staging", "helm release", "web-staging"))
	run([deploy], {}) == {{
		"msg": "job \"deploy\" deploys to staging (a later environment by name; inferred from its helm release \"web-staging\", as the job declares no `environment:`) but builds an image itself with docker: what reaches staging is not the image tested before it; build once and deploy that image's digest",
		"details": {
			"job": "deploy", "line": 9, "environment": "staging", "tool": "docker",
			"environment_inferred_from": "helm release", "environment_evidence": "web-staging",
		},
	}}
	count(run([object.union(deploy, guess("dev", "job name", "deploy-dev"))], {})) == 0
}

test_earlier_inferred_environment_makes_a_later_one if {
	dev := object.union(job("dev", "ignored", [], []), guess("dev", "kubectl --context", "dev-cluster"))
	qa := job("qa", "qa", ["dev"], [docker])
	run([dev, qa], {}) == {{
		"msg": "job \"qa\" deploys to qa (after the pipeline deployed to dev) but builds an image itself with docker: what reaches qa is not the image tested before it; build once and deploy that image's digest",
		"details": {"job": "qa", "line": 9, "environment": "qa", "tool": "docker"},
	}}
}
