package rollguard.k8s.image_pinning_test

import data.rollguard.k8s.image_pinning
import data.rollguard.lib.image
import data.rollguard.lib.testing

digest := "sha256:3b4f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"

deployment(containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": containers}}},
}

default_parameters := {"require_digest": false, "disallowed_tags": ["latest"], "exempt_images": []}

strict(o) := testing.review(o, object.union(default_parameters, {"require_digest": true}))

with_parameters(o, parameters) := testing.review(o, object.union(default_parameters, parameters))

violations(image) := v if {
	v := image_pinning.violation with input as testing.review(deployment([{"name": "app", "image": image}]), default_parameters)
}

# --- reference parsing ---

test_parse_docker_hub_short_name if {
	image.parse("nginx") == {
		"domain": "docker.io", "path": "library/nginx", "tag": "", "digest": "",
		"normalized": "docker.io/library/nginx",
	}
	image.parse("nginx:1.25").normalized == "docker.io/library/nginx:1.25"
}

test_parse_docker_hub_library_and_user_images if {
	image.parse("library/nginx:1.25") == {
		"domain": "docker.io", "path": "library/nginx", "tag": "1.25", "digest": "",
		"normalized": "docker.io/library/nginx:1.25",
	}
	image.parse("bitnami/redis:7.2").normalized == "docker.io/bitnami/redis:7.2"
	image.parse("docker.io/nginx").normalized == "docker.io/library/nginx"
	image.parse("index.docker.io/library/nginx:1").normalized == "docker.io/library/nginx:1"
	image.parse("docker.io/bitnami/redis").normalized == "docker.io/bitnami/redis"
}

test_parse_registry_with_port_has_no_tag if {
	image.parse("registry.example.com:5000/shop/app") == {
		"domain": "registry.example.com:5000", "path": "shop/app", "tag": "", "digest": "",
		"normalized": "registry.example.com:5000/shop/app",
	}
	image.parse("localhost:5000/app:1.0") == {
		"domain": "localhost:5000", "path": "app", "tag": "1.0", "digest": "",
		"normalized": "localhost:5000/app:1.0",
	}
	image.parse("localhost/app").domain == "localhost"
	image.parse("Registry/app").domain == "Registry"
}

test_parse_digest_only if {
	image.parse(concat("@", ["quay.io/prometheus/node-exporter", digest])) == {
		"domain": "quay.io", "path": "prometheus/node-exporter", "tag": "", "digest": digest,
		"normalized": concat("@", ["quay.io/prometheus/node-exporter", digest]),
	}
	image.parse(concat("@", ["host:5000/app", digest])).tag == ""
}

test_parse_tag_and_digest if {
	image.parse(concat("", ["registry.example.com:5000/shop/app:2.4.1@", digest])) == {
		"domain": "registry.example.com:5000", "path": "shop/app", "tag": "2.4.1", "digest": digest,
		"normalized": concat("", ["registry.example.com:5000/shop/app:2.4.1@", digest]),
	}
	image.parse(concat("", ["nginx:latest@", digest])).normalized == concat("", ["docker.io/library/nginx:latest@", digest])
}

# --- violations ---

test_latest_tag_is_reported if {
	violations("registry.example.com/shop/app:latest") == {{
		"msg": `container "app" image "registry.example.com/shop/app:latest" uses the mutable tag "latest"`,
		"details": {"container": "app", "image": "registry.example.com/shop/app:latest", "tag": "latest", "digest": null, "path": "spec.template.spec.containers[0].image"},
	}}
}

test_missing_tag_is_reported if {
	violations("nginx") == {{
		"msg": `container "app" image "nginx" has no tag, so it runs whatever "latest" points to`,
		"details": {"container": "app", "image": "nginx", "tag": null, "digest": null, "path": "spec.template.spec.containers[0].image"},
	}}
}

test_registry_port_without_tag_is_reported if {
	violations("registry.example.com:5000/shop/app") == {{
		"msg": `container "app" image "registry.example.com:5000/shop/app" has no tag, so it runs whatever "latest" points to`,
		"details": {"container": "app", "image": "registry.example.com:5000/shop/app", "tag": null, "digest": null, "path": "spec.template.spec.containers[0].image"},
	}}
}

test_pinned_images_pass if {
	count(violations("registry.example.com:5000/shop/app:2.4.1")) == 0
	count(violations("nginx:1.25")) == 0
	count(violations(concat("@", ["nginx", digest]))) == 0
	count(violations(concat("", ["nginx:latest@", digest]))) == 0
}

test_latest_is_case_sensitive if {
	count(violations("nginx:Latest")) == 0
	count(violations("registry.example.com/latest/app:1")) == 0
}

test_init_and_ephemeral_containers_are_judged if {
	o := json.patch(deployment([{"name": "app", "image": "app:1"}]), [
		{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "migrate"}]},
		{"op": "add", "path": "/spec/template/spec/ephemeralContainers", "value": [{"name": "debug", "image": "busybox:latest"}]},
	])
	v := image_pinning.violation with input as testing.review(o, default_parameters)
	{x.details.container | some x in v} == {"migrate", "debug"}
	{x.details.path | some x in v} == {
		"spec.template.spec.initContainers[0].image",
		"spec.template.spec.ephemeralContainers[0].image",
	}
}

test_cronjob_is_judged if {
	cj := {
		"apiVersion": "batch/v1",
		"kind": "CronJob",
		"metadata": {"name": "report"},
		"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "report", "image": "report:latest"}]}}}}},
	}
	v := image_pinning.violation with input as testing.review(cj, default_parameters)
	{x.details.tag | some x in v} == {"latest"}
	{x.details.path | some x in v} == {"spec.jobTemplate.spec.template.spec.containers[0].image"}
}

test_require_digest_reports_tags if {
	v := image_pinning.violation with input as strict(deployment([{"name": "app", "image": "registry.example.com/shop/app:2.4.1"}]))
	v == {{
		"msg": `container "app" image "registry.example.com/shop/app:2.4.1" is not pinned by a @sha256 digest`,
		"details": {"container": "app", "image": "registry.example.com/shop/app:2.4.1", "tag": "2.4.1", "digest": null, "path": "spec.template.spec.containers[0].image"},
	}}
}

test_require_digest_reports_latest_once if {
	v := image_pinning.violation with input as strict(deployment([{"name": "app", "image": "nginx"}]))
	v == {{
		"msg": `container "app" image "nginx" is not pinned by a @sha256 digest`,
		"details": {"container": "app", "image": "nginx", "tag": null, "digest": null, "path": "spec.template.spec.containers[0].image"},
	}}
}

test_require_digest_rejects_malformed_digest if {
	v := image_pinning.violation with input as strict(deployment([{"name": "app", "image": "app:1@sha256:abc"}]))
	v == {{
		"msg": `container "app" image "app:1@sha256:abc" is not pinned by a @sha256 digest`,
		"details": {"container": "app", "image": "app:1@sha256:abc", "tag": "1", "digest": "sha256:abc", "path": "spec.template.spec.containers[0].image"},
	}}
}

test_require_digest_accepts_digest if {
	count(image_pinning.violation) == 0 with input as strict(deployment([{"name": "app", "image": concat("", ["app:latest@", digest])}]))
	count(image_pinning.violation) == 0 with input as strict(deployment([{"name": "app", "image": concat("", ["host:5000/app@", digest])}]))
}

test_missing_or_malformed_image_is_ignored if {
	count(image_pinning.violation) == 0 with input as testing.review(deployment([{"name": "app"}, {"name": "b", "image": 42}, {"name": "c", "image": ""}]), default_parameters)
	count(image_pinning.violation) == 0 with input as testing.review({"kind": "Deployment", "spec": "broken"}, default_parameters)
}

test_disallowed_tags_parameter if {
	o := deployment([
		{"name": "a", "image": "registry.example.com/a:main"},
		{"name": "b", "image": "registry.example.com/b:latest"},
		{"name": "c", "image": "registry.example.com/c:1.2.3"},
	])
	v := image_pinning.violation with input as with_parameters(o, {"disallowed_tags": ["main", "dev"]})
	v == {{
		"msg": `container "a" image "registry.example.com/a:main" uses the mutable tag "main"`,
		"details": {"container": "a", "image": "registry.example.com/a:main", "tag": "main", "digest": null, "path": "spec.template.spec.containers[0].image"},
	}}
}

test_untagged_images_are_reported_whatever_the_disallowed_tags if {
	v := image_pinning.violation with input as with_parameters(deployment([{"name": "app", "image": "nginx"}]), {"disallowed_tags": []})
	{x.details.tag | some x in v} == {null}
}

test_malformed_disallowed_tags_fall_back_to_latest if {
	o := deployment([{"name": "app", "image": "app:latest"}])
	v := image_pinning.violation with input as with_parameters(o, {"disallowed_tags": "main"})
	{x.details.tag | some x in v} == {"latest"}
	count(image_pinning.violation) == 0 with input as with_parameters(o, {"disallowed_tags": [42, ""]})
}

test_exempt_images_exact_and_prefix if {
	o := json.patch(deployment([
		{"name": "exact", "image": "openpolicyagent/opa-exp:latest"},
		{"name": "prefixed", "image": "registry.example.com/debug/shell"},
		{"name": "other", "image": "openpolicyagent/opa-exp:latest-2"},
		{"name": "judged", "image": "openpolicyagent/opa-exp2:latest"},
	]), [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "init", "image": "registry.example.com/debug/init"}]}])
	exemptions := {"disallowed_tags": ["latest", "latest-2"], "exempt_images": ["openpolicyagent/opa-exp:latest", "registry.example.com/debug/*", 7]}
	v := image_pinning.violation with input as with_parameters(o, exemptions)
	v == {
		{
			"msg": `container "other" image "openpolicyagent/opa-exp:latest-2" uses the mutable tag "latest-2"`,
			"details": {"container": "other", "image": "openpolicyagent/opa-exp:latest-2", "tag": "latest-2", "digest": null, "path": "spec.template.spec.containers[2].image"},
		},
		{
			"msg": `container "judged" image "openpolicyagent/opa-exp2:latest" uses the mutable tag "latest"`,
			"details": {"container": "judged", "image": "openpolicyagent/opa-exp2:latest", "tag": "latest", "digest": null, "path": "spec.template.spec.containers[3].image"},
		},
	}
}

test_exempt_images_apply_with_require_digest if {
	o := deployment([{"name": "app", "image": "registry.example.com/app:1"}, {"name": "debug", "image": "registry.example.com/debug/shell:1"}])
	inp := with_parameters(o, {"require_digest": true, "exempt_images": ["registry.example.com/debug/*"]})
	v := image_pinning.violation with input as inp
	{x.details.container | some x in v} == {"app"}
}
