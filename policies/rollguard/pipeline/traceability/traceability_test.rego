package rollguard.pipeline.traceability_test

import data.rollguard.pipeline.traceability

job(env, stamps, steps) := {
	"id": "deploy",
	"line": 5,
	"deploys": true,
	"teardown": false,
	"environment": {"name": env, "url": null, "action": null},
	"stamps": stamps,
	"steps": steps,
}

run(system, jobs, parameters) := v if {
	v := traceability.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": system, "jobs": jobs},
		"parameters": parameters,
	}
}

apply := {"name": "script", "run": "kubectl apply -f k8s/", "uses": null, "if": null, "line": 9}

test_unstamped_deploy if {
	run("gitlab", [job("production", [], [apply])], {}) == {{
		"msg": "job \"deploy\" deploys to production without stamping the commit or pipeline run onto what it deploys: nobody can tell from the cluster which change is running; deploy an image tagged $CI_COMMIT_SHA or annotate kubernetes.io/change-cause",
		"details": {"job": "deploy", "line": 5, "environment": "production"},
	}}
	[v.msg | some v in run("github", [job("staging", [], [apply])], {})] == ["job \"deploy\" deploys to staging without stamping the commit or pipeline run onto what it deploys: nobody can tell from the cluster which change is running; deploy an image tagged ${{ github.sha }} or annotate kubernetes.io/change-cause"]
}

test_stamped_deploy if {
	stamp := {"kind": "commit", "command": "kubectl set image deployment/web web=app:$CI_COMMIT_SHA", "line": 9}
	count(run("gitlab", [job("production", [stamp], [apply])], {})) == 0
}

test_known_deployers if {
	auto := {"name": "script", "run": "auto-deploy deploy canary 50", "uses": null, "if": null, "line": 9}
	count(run("gitlab", [job("production", [], [auto])], {})) == 0
	multi := object.union(apply, {"run": "echo go\nauto-deploy deploy\n"})
	count(run("gitlab", [job("production", [], [multi])], {})) == 0
	mention := object.union(apply, {"run": "echo not auto-deploy deploy"})
	count(run("gitlab", [job("production", [], [mention])], {})) == 1
	count(run("gitlab", [job("production", [], [auto])], {"stamping_commands": ["./release.sh"]})) == 1
	release := object.union(apply, {"run": "./release.sh production"})
	count(run("gitlab", [job("production", [], [release])], {"stamping_commands": ["./release.sh"]})) == 0
}

test_not_judged if {
	count(run("gitlab", [object.union(job("production", [], [apply]), {"environment": null})], {})) == 0
	count(run("gitlab", [object.union(job("production", [], [apply]), {"deploys": false})], {})) == 0
	count(run("github", [object.union(job("production", [], [apply]), {"teardown": true})], {})) == 0
}
