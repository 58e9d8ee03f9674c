package rollguard.pipeline.deploy_timeout_test

import data.rollguard.pipeline.deploy_timeout

job(overrides) := object.union(
	{"id": "deploy", "line": 7, "deploys": true, "timeout_minutes": null, "deploy_commands": []},
	overrides,
)

run(system, jobs, parameters) := v if {
	v := deploy_timeout.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": system, "jobs": jobs},
		"parameters": parameters,
	}
}

test_deploy_job_without_timeout if {
	run("github", [job({})], {}) == {{
		"msg": "deploy job \"deploy\" has no timeout: a stuck rollout holds the pipeline and the environment until the CI system's default limit; set timeout-minutes",
		"details": {"job": "deploy", "line": 7, "timeout_minutes": null, "max_job_timeout_minutes": 120},
	}}
	v := run("gitlab", [job({})], {})
	{x.msg | some x in v} == {"deploy job \"deploy\" has no timeout: a stuck rollout holds the pipeline and the environment until the CI system's default limit; set timeout"}
}

test_timeout_too_long if {
	run("gitlab", [job({"timeout_minutes": 180})], {"max_job_timeout_minutes": 60}) == {{
		"msg": "deploy job \"deploy\" may run for 180 minutes, more than the 60 allowed; lower timeout",
		"details": {"job": "deploy", "line": 7, "timeout_minutes": 180, "max_job_timeout_minutes": 60},
	}}
	count(run("gitlab", [job({"timeout_minutes": 180})], {})) == 1
	count(run("gitlab", [job({"timeout_minutes": 120})], {})) == 0
}

test_rollout_status_without_timeout if {
	c := {"tool": "kubectl", "verb": "rollout-status", "timeout": false, "command": "kubectl rollout status deployment/web", "line": 12}
	run("github", [job({"timeout_minutes": 20, "deploy_commands": [c]})], {}) == {{
		"msg": "\"kubectl rollout status deployment/web\" in job \"deploy\" waits for the rollout without --timeout: a rollout that never becomes ready blocks the job instead of failing it",
		"details": {"job": "deploy", "line": 12, "command": "kubectl rollout status deployment/web"},
	}}
	ok := object.union(c, {"timeout": true})
	count(run("github", [job({"timeout_minutes": 20, "deploy_commands": [ok]})], {})) == 0
}

test_non_deploy_job_passes if {
	count(run("github", [job({"deploys": false})], {})) == 0
}
