package rollguard.k8s.secret_env_test

import data.rollguard.k8s.secret_env
import data.rollguard.lib.testing

deployment(containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": containers}}},
}

judge(containers) := v if {
	v := secret_env.violation with input as testing.review(deployment(containers), {})
}

secret_env_var := {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}}

test_secret_key_ref_is_reported if {
	judge([{"name": "app", "image": "app:1", "env": [{"name": "MODE", "value": "prod"}, secret_env_var]}]) == {{
		"msg": `container "app" reads key password of Secret db-credentials into env var DB_PASSWORD: rotating the Secret needs a restart`,
		"details": {"container": "app", "source": "env", "env": "DB_PASSWORD", "secret": "db-credentials", "key": "password", "path": "spec.template.spec.containers[0].env[1]"},
	}}
}

test_env_from_secret_is_reported if {
	judge([{"name": "app", "image": "app:1", "envFrom": [{"configMapRef": {"name": "settings"}}, {"prefix": "DB_", "secretRef": {"name": "db-credentials"}}]}]) == {{
		"msg": `container "app" loads Secret db-credentials into its environment (envFrom): rotating the Secret needs a restart`,
		"details": {"container": "app", "source": "envFrom", "secret": "db-credentials", "path": "spec.template.spec.containers[0].envFrom[1]"},
	}}
}

test_config_maps_field_refs_and_volumes_pass if {
	count(judge([{
		"name": "app",
		"image": "app:1",
		"env": [
			{"name": "MODE", "value": "prod"},
			{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
			{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
		],
		"envFrom": [{"configMapRef": {"name": "settings"}}],
		"volumeMounts": [{"name": "db", "mountPath": "/etc/db", "readOnly": true}],
	}])) == 0
}

test_init_and_ephemeral_containers_are_judged if {
	o := json.patch(deployment([{"name": "app", "image": "app:1"}]), [
		{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "m:1", "env": [secret_env_var]}]},
		{"op": "add", "path": "/spec/template/spec/ephemeralContainers", "value": [{"name": "debug", "image": "d:1", "envFrom": [{"secretRef": {"name": "x"}}]}]},
	])
	v := secret_env.violation with input as testing.review(o, {})
	{[x.details.container, x.details.source] | some x in v} == {["migrate", "env"], ["debug", "envFrom"]}
	{x.details.path | some x in v} == {"spec.template.spec.initContainers[0].env[0]", "spec.template.spec.ephemeralContainers[0].envFrom[0]"}
}

test_every_reference_is_reported if {
	other := {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "user"}}}
	v := judge([{"name": "app", "image": "app:1", "env": [secret_env_var, other]}])
	{x.details.key | some x in v} == {"password", "user"}
}

test_incomplete_references_are_still_reported if {
	v := judge([{"name": "app", "image": "app:1", "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"key": "token", "optional": true}}}]}])
	v == {{
		"msg": `container "app" reads key token of Secret null into env var TOKEN: rotating the Secret needs a restart`,
		"details": {"container": "app", "source": "env", "env": "TOKEN", "secret": null, "key": "token", "path": "spec.template.spec.containers[0].env[0]"},
	}}
}

test_malformed_env_does_not_error if {
	count(judge([{"name": "app", "image": "app:1", "env": "DB_PASSWORD=x", "envFrom": {"secretRef": {"name": "x"}}}])) == 0
	count(judge([{"name": "app", "image": "app:1", "env": ["x", {"valueFrom": "secret"}], "envFrom": [3, {"secretRef": "db"}]}])) == 0
}
