package rollguard.pipeline.untrusted_trigger_test

import data.rollguard.pipeline.untrusted_trigger

checkout := {
	"kind": "action",
	"ref": "${{ github.event.pull_request.head.sha }}",
	"repository": null,
	"untrusted": true,
	"line": 12,
	"runs_code_at": 15,
}

job(secrets, permissions) := {
	"id": "test",
	"line": 6,
	"checkouts": [checkout],
	"secrets_used": secrets,
	"permissions": permissions,
}

read_only := {"source": "workflow", "write": [], "line": 4}

default_token := {"source": "default", "write": null, "line": null}

npm := {"name": "NPM_TOKEN", "line": 16}

run(triggers, jobs) := v if {
	v := untrusted_trigger.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": "github", "triggers": triggers, "jobs": jobs},
		"parameters": {},
	}
}

test_secrets if {
	run(["pull_request_target"], [job([npm, npm, {"name": "GITHUB_TOKEN", "line": 3}], read_only)]) == {{
		"msg": "job \"test\" of a pull_request_target workflow checks out the pull request's code (${{ github.event.pull_request.head.sha }}) and runs it from line 15 with secrets NPM_TOKEN: whoever opens a pull request can take them; build pull requests in a pull_request workflow instead",
		"details": {
			"job": "test",
			"line": 12,
			"triggers": ["pull_request_target"],
			"ref": "${{ github.event.pull_request.head.sha }}",
			"runs_code_at": 15,
			"secrets": ["NPM_TOKEN"],
			"write": [],
		},
	}}
}

test_default_and_write_permissions if {
	run(["workflow_run"], [job([], default_token)]) == {{
		"msg": "job \"test\" of a workflow_run workflow checks out the pull request's code (${{ github.event.pull_request.head.sha }}) and runs it from line 15 with the repository's default token permissions, which may include write: whoever opens a pull request can take them; build pull requests in a pull_request workflow instead",
		"details": {
			"job": "test",
			"line": 12,
			"triggers": ["workflow_run"],
			"ref": "${{ github.event.pull_request.head.sha }}",
			"runs_code_at": 15,
			"secrets": [],
			"write": null,
		},
	}}
	[v.msg | some v in run(["pull_request_target"], [job([npm], {"source": "job", "write": ["contents", "id-token"], "line": 8})])] == ["job \"test\" of a pull_request_target workflow checks out the pull request's code (${{ github.event.pull_request.head.sha }}) and runs it from line 15 with secrets NPM_TOKEN and write permissions (contents, id-token): whoever opens a pull request can take them; build pull requests in a pull_request workflow instead"]
}

test_read_only_without_secrets_is_allowed if {
	count(run(["pull_request_target"], [job([{"name": "GITHUB_TOKEN", "line": 3}], read_only)])) == 0
}

test_only_privileged_triggers if {
	count(run(["pull_request", "push"], [job([npm], default_token)])) == 0
	gitlab := untrusted_trigger.violation with input as {"artifact": {"system": "gitlab", "triggers": ["pull_request_target"], "jobs": [job([npm], default_token)]}}
	count(gitlab) == 0
}

test_trusted_checkout_or_nothing_run_after if {
	base := object.union(checkout, {"ref": null, "untrusted": false})
	count(run(["pull_request_target"], [object.union(job([npm], default_token), {"checkouts": [base]})])) == 0
	idle := object.union(checkout, {"runs_code_at": null})
	count(run(["pull_request_target"], [object.union(job([npm], default_token), {"checkouts": [idle]})])) == 0
}

test_repository_shown_when_no_ref if {
	fork := object.union(checkout, {"ref": null, "repository": "${{ github.event.pull_request.head.repo.full_name }}"})
	[v.details.ref | some v in run(["pull_request_target"], [object.union(job([npm], read_only), {"checkouts": [fork]})])] == ["${{ github.event.pull_request.head.repo.full_name }}"]
}
