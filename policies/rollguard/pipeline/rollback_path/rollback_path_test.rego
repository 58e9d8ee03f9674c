package rollguard.pipeline.rollback_path_test

import data.rollguard.pipeline.rollback_path

deploy(env) := {"id": "deploy", "line": 4, "deploys": true, "environment": {"name": env, "url": null}, "runs_on_failure": false, "needs": [], "deploy_commands": []}

run(system, jobs, parameters) := v if {
	v := rollback_path.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": system, "jobs": jobs},
		"parameters": parameters,
	}
}

test_production_without_rollback if {
	run("gitlab", [deploy("Production")], {}) == {{
		"msg": "job \"deploy\" deploys to Production but nothing in the pipeline runs on failure to roll it back or stop it: a failed rollout stays half done",
		"details": {"job": "deploy", "line": 4, "environment": "Production"},
	}}
	count(run("gitlab", [deploy("prod-eu")], {})) == 1
	count(run("gitlab", [deploy("production2")], {})) == 0
	count(run("gitlab", [deploy("staging")], {})) == 0
}

test_parameter if {
	count(run("gitlab", [deploy("live")], {"production_environments": ["live"]})) == 1
	count(run("gitlab", [deploy("production")], {"production_environments": ["live"]})) == 0
}

test_on_failure_job_or_step if {
	rollback := {"id": "rollback", "line": 9, "deploys": false, "environment": null, "runs_on_failure": true, "needs": []}
	count(run("gitlab", [deploy("production"), rollback], {})) == 0
	count(run("github", [deploy("production"), rollback], {})) == 1
	count(run("github", [deploy("production"), object.union(rollback, {"needs": ["deploy"]})], {})) == 0
	count(run("github", [object.union(deploy("production"), {"runs_on_failure": true})], {})) == 0
}

test_atomic_helm if {
	c := {"tool": "helm", "verb": "upgrade", "timeout": true, "command": "helm upgrade --install web ./chart --atomic --timeout 10m", "line": 6}
	count(run("github", [object.union(deploy("production"), {"deploy_commands": [c]})], {})) == 0
}

test_inferred_production_without_rollback if {
	guessed := object.union(deploy("ignored"), {
		"environment": null,
		"inferred_environment": {"name": "prod", "inferred_from": "job name", "value": "deploy-prod-eu", "line": 4},
	})
	run("gitlab", [guessed], {}) == {{
		"msg": "job \"deploy\" deploys to prod (inferred from its job name \"deploy-prod-eu\", as the job declares no `environment:`) but nothing in the pipeline runs on failure to roll it back or stop it: a failed rollout stays half done",
		"details": {
			"job": "deploy", "line": 4, "environment": "prod",
			"environment_inferred_from": "job name", "environment_evidence": "deploy-prod-eu",
		},
	}}
	count(run("gitlab", [object.union(guessed, {"runs_on_failure": true})], {})) == 0

	# No environment declared and none inferred: nothing to judge.
	count(run("gitlab", [object.union(guessed, {"inferred_environment": null})], {})) == 0
}
