package rollguard.pipeline.deploy_gate_test

import data.rollguard.pipeline.deploy_gate

job(id, env, approval, after) := {
	"id": id,
	"line": 7,
	"deploys": true,
	"teardown": false,
	"approval": approval,
	"environment": {"name": env, "url": null, "action": null},
	"after": after,
	"smoke_tests": [],
}

smoke := object.union(job("smoke", "canary", false, []), {"deploys": false, "smoke_tests": [{"kind": "health-check", "command": "curl --fail https://canary/healthz", "line": 4}]})

run(system, jobs, parameters, environments) := v if {
	v := deploy_gate.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": system, "jobs": jobs},
		"parameters": parameters,
	} with data.rollguard.context as {"environments": environments}
}

test_gitlab_production_without_gate if {
	run("gitlab", [job("deploy", "production", false, [])], {}, {}) == {{
		"msg": "job \"deploy\" deploys to production (a production environment) with no approval and no earlier job that smoke-tests a first batch: a bad release reaches everyone before anyone has looked at it; add `when: manual`, or smoke-test a canary or staging deployment in an earlier stage",
		"details": {"job": "deploy", "line": 7, "environment": "production"},
	}}
	count(run("gitlab", [job("deploy", "prod-eu", false, [])], {}, {})) == 1
	count(run("gitlab", [job("deploy", "staging", false, [])], {}, {})) == 0
}

test_manual_job_is_approved if {
	count(run("gitlab", [job("deploy", "production", true, [])], {}, {})) == 0
}

test_earlier_smoke_test if {
	count(run("gitlab", [smoke, job("deploy", "production", false, ["smoke"])], {}, {})) == 0

	# A smoke test that does not finish before the deploy does not gate it.
	count(run("gitlab", [smoke, job("deploy", "production", false, [])], {}, {})) == 1
}

test_github_environment_trusted_unless_told_otherwise if {
	count(run("github", [job("deploy", "production", true, [])], {}, {})) == 0
	run("github", [job("deploy", "production", true, [])], {"trust_github_environments": false}, {}) == {{
		"msg": "job \"deploy\" deploys to production (a production environment) with no approval and no earlier job that smoke-tests a first batch: a bad release reaches everyone before anyone has looked at it; add required reviewers to the environment, or make the job need a job that smoke-tests a canary or staging deployment",
		"details": {"job": "deploy", "line": 7, "environment": "production"},
	}}
	count(run("github", [smoke, job("deploy", "production", true, ["smoke"])], {"trust_github_environments": false}, {})) == 0
}

test_risk_from_rollguard_yaml if {
	high := {"Payments": {"risk": "high"}, "staging": {"risk": "low"}}
	run("gitlab", [job("deploy", "payments", false, [])], {}, high) == {{
		"msg": "job \"deploy\" deploys to payments (high risk in rollguard.yaml) with no approval and no earlier job that smoke-tests a first batch: a bad release reaches everyone before anyone has looked at it; add `when: manual`, or smoke-test a canary or staging deployment in an earlier stage",
		"details": {"job": "deploy", "line": 7, "environment": "payments"},
	}}
	count(run("gitlab", [job("deploy", "staging", false, [])], {}, high)) == 0

	# A malformed map is ignored, not an error.
	count(run("gitlab", [job("deploy", "payments", false, [])], {}, ["payments"])) == 0
}

test_no_environment_map if {
	found := deploy_gate.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": "gitlab", "jobs": [job("deploy", "production", false, [])]},
		"parameters": {},
	}
		with data.rollguard.context as {"now_ns": 0}
	count(found) == 1
}

test_parameter_and_non_deploys if {
	count(run("gitlab", [job("deploy", "live", false, [])], {"high_risk_environments": ["live"]}, {})) == 1
	count(run("gitlab", [job("deploy", "production", false, [])], {"high_risk_environments": ["live"]}, {})) == 0
	count(run("gitlab", [object.union(job("deploy", "production", false, []), {"deploys": false})], {}, {})) == 0
	count(run("gitlab", [object.union(job("deploy", "production", false, []), {"teardown": true})], {}, {})) == 0
}

# A job with no `environment:` whose namespace says production.
inferred(id, approval, after) := object.union(job(id, "ignored", approval, after), {
	"environment": null,
	"inferred_environment": {"name": "prod", "inferred_from": "kubectl --namespace", "value": "production", "line": 12},
})

test_github_inferred_environment_is_ungated if {
	# `approval` is false for GitHub jobs without an environment; it is set here to show it is not what decides.
	run("github", [inferred("deploy", false, [])], {}, {}) == {{
		"msg": "job \"deploy\" deploys to prod (a production environment; inferred from its kubectl --namespace \"production\", as the job declares no `environment:`) with no approval and no earlier job that smoke-tests a first batch: a bad release reaches everyone before anyone has looked at it; declare `environment: prod` on the job and give that environment required reviewers in the repository settings, or make the job need a job that smoke-tests a canary or staging deployment",
		"details": {
			"job": "deploy", "line": 7, "environment": "prod",
			"environment_inferred_from": "kubectl --namespace", "environment_evidence": "production",
		},
	}}
	count(run("github", [smoke, inferred("deploy", false, ["smoke"])], {}, {})) == 0
}

test_gitlab_inferred_environment if {
	run("gitlab", [inferred("deploy", false, [])], {}, {}) == {{
		"msg": "job \"deploy\" deploys to prod (a production environment; inferred from its kubectl --namespace \"production\", as the job declares no `environment:`) with no approval and no earlier job that smoke-tests a first batch: a bad release reaches everyone before anyone has looked at it; declare `environment: prod` on the job and add `when: manual`, or smoke-test a canary or staging deployment in an earlier stage",
		"details": {
			"job": "deploy", "line": 7, "environment": "prod",
			"environment_inferred_from": "kubectl --namespace", "environment_evidence": "production",
		},
	}}

	# `when: manual` gates a GitLab job whatever its environment.
	count(run("gitlab", [inferred("deploy", true, [])], {}, {})) == 0

	# An inferred staging deploy is not high-risk.
	staging := object.union(inferred("deploy", false, []), {"inferred_environment": {"name": "staging", "inferred_from": "job name", "value": "deploy-staging", "line": 7}})
	count(run("gitlab", [staging], {}, {})) == 0
}
