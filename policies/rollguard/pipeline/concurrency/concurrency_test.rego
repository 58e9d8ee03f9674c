package rollguard.pipeline.concurrency_test

import data.rollguard.pipeline.concurrency

deploy(env, group) := {"id": "deploy", "line": 4, "deploys": true, "environment": {"name": env, "url": null}, "concurrency": group}

run(system, jobs, parameters) := v if {
	v := concurrency.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": system, "jobs": jobs},
		"parameters": parameters,
	}
}

test_unserialised_deploy if {
	run("gitlab", [deploy("production", null)], {}) == {{
		"msg": "deploy job \"deploy\" targets production without resource_group: two pipelines can roll out to it at the same time and the older commit can win",
		"details": {"job": "deploy", "line": 4, "environment": "production"},
	}}
	{v.msg | some v in run("github", [deploy("staging", null)], {})} == {"deploy job \"deploy\" targets staging without concurrency: two pipelines can roll out to it at the same time and the older commit can win"}
}

test_serialised_or_exempt if {
	count(run("gitlab", [deploy("production", "production")], {})) == 0
	count(run("gitlab", [deploy("review/feature-x", null)], {})) == 0
	count(run("gitlab", [deploy("review/feature-x", null)], {"exempt_environment_prefixes": []})) == 1
	count(run("gitlab", [object.union(deploy("production", null), {"deploys": false})], {})) == 0
}
