package rollguard.pipeline.plaintext_secret_test

import data.rollguard.pipeline.plaintext_secret

var(name, value, job) := {"name": name, "value": value, "scope": "job", "job": job, "step": null, "line": 6}

run(variables, parameters) := v if {
	v := plaintext_secret.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": "gitlab", "variables": variables, "jobs": []},
		"parameters": parameters,
	}
}

test_literal_secret if {
	run([var("DEPLOY_TOKEN", "glpat-3f9a8c7e2d1b", "deploy")], {}) == {{
		"msg": "variable of job \"deploy\": DEPLOY_TOKEN is set to a literal value in the pipeline file: anyone who can read the repository has the credential; reference a secret instead",
		"details": {"name": "DEPLOY_TOKEN", "scope": "job", "job": "deploy", "line": 6},
	}}
	{v.msg | some v in run([var("db_Password", "hunter2", null)], {})} == {"pipeline-wide variable db_Password is set to a literal value in the pipeline file: anyone who can read the repository has the credential; reference a secret instead"}
}

test_references_and_other_names_pass if {
	count(run([var("DEPLOY_TOKEN", "${{ secrets.DEPLOY_TOKEN }}", "deploy")], {})) == 0
	count(run([var("DEPLOY_TOKEN", "$CI_JOB_TOKEN", "deploy")], {})) == 0
	count(run([var("DEPLOY_TOKEN", "", "deploy")], {})) == 0
	count(run([var("DEPLOY_TOKEN", null, "deploy")], {})) == 0
	count(run([var("IMAGE", "web:1.2", "deploy")], {})) == 0
}

test_name_pattern if {
	count(run([var("DB_PASS", "x", null)], {"name_pattern": "PASS"})) == 1
	count(run([var("DB_PASS", "x", null)], {})) == 0
}
