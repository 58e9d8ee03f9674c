package rollguard.pipeline.pinned_actions_test

import data.rollguard.pipeline.pinned_actions

sha := "11bd71901bbe5b1630ceea73d27597364c9af683"

run(jobs, parameters) := v if {
	v := pinned_actions.violation with input as {
		"artifact": {"kind": "PipelineDefinition", "system": "github", "jobs": jobs},
		"parameters": parameters,
	}
}

action(uses, owner, ref, pinned) := {"uses": uses, "owner": owner, "ref": ref, "pinned_sha": pinned, "line": 9}

job(actions, image) := {"id": "deploy", "line": 5, "actions_used": actions, "image": image}

test_tag_is_reported if {
	run([job([action("actions/checkout@v4", "actions", "v4", false)], null)], {}) == {{
		"msg": "job \"deploy\" uses actions/checkout@v4, which is not pinned to a full commit SHA: whoever controls that repository can change what runs with this pipeline's credentials; pin it to a 40-character commit SHA",
		"details": {"job": "deploy", "line": 9, "uses": "actions/checkout@v4", "ref": "v4"},
	}}
}

test_sha_passes if {
	count(run([job([action(concat("@", ["actions/checkout", sha]), "actions", sha, true)], null)], {})) == 0
}

test_trusted_owner if {
	a := action("Actions/checkout@v4", "Actions", "v4", false)
	count(run([job([a], null)], {"trusted_owners": ["actions"]})) == 0
	count(run([job([a], null)], {"trusted_owners": ["github"]})) == 1
	count(run([job([action("docker://alpine:3", null, "3", false)], null)], {"trusted_owners": ["actions"]})) == 1
}

test_latest_and_untagged_images if {
	latest := {"ref": "docker:latest", "name": "docker", "tag": "latest", "digest": null, "line": 3}
	run([job([], latest)], {}) == {{
		"msg": "job \"deploy\" runs in image docker:latest, which is tagged :latest: every run may get different tools; use a version tag or a digest",
		"details": {"job": "deploy", "line": 3, "image": "docker:latest"},
	}}
	untagged := {"ref": "alpine/k8s", "name": "alpine/k8s", "tag": null, "digest": null, "line": 4}
	{v.msg | some v in run([job([], untagged)], {})} == {"job \"deploy\" runs in image alpine/k8s, which has no tag, so latest is pulled: every run may get different tools; use a version tag or a digest"}
	pinned := {"ref": "docker:latest@sha256:abc", "name": "docker", "tag": "latest", "digest": "sha256:abc", "line": 3}
	count(run([job([], pinned)], {})) == 0
	versioned := {"ref": "docker:27.3", "name": "docker", "tag": "27.3", "digest": null, "line": 3}
	count(run([job([], versioned)], {})) == 0
}
