package rollguard.k8s.image_registry_test

import data.rollguard.k8s.image_registry
import data.rollguard.lib.image
import data.rollguard.lib.testing

digest := "sha256:3b4f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"

deployment(containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"template": {"spec": {"containers": containers}}},
}

violations(image, allowed) := v if {
	v := image_registry.violation with input as testing.review(deployment([{"name": "app", "image": image}]), {"allowed_registries": allowed})
}

allowed(image, entries) if count(violations(image, entries)) == 0

# --- reference normalisation ---

test_normalise_docker_hub_names if {
	image.parse("nginx").normalized == "docker.io/library/nginx"
	image.parse("nginx:1.25").normalized == "docker.io/library/nginx:1.25"
	image.parse("library/nginx:1.25").normalized == "docker.io/library/nginx:1.25"
	image.parse("docker.io/nginx").normalized == "docker.io/library/nginx"
	image.parse("index.docker.io/nginx:1").normalized == "docker.io/library/nginx:1"
	image.parse("bitnami/redis:7.2").normalized == "docker.io/bitnami/redis:7.2"
}

test_normalise_registries_with_port_digest_and_tag if {
	image.parse("registry.example.com:5000/shop/app") == {
		"domain": "registry.example.com:5000", "path": "shop/app", "tag": "", "digest": "",
		"normalized": "registry.example.com:5000/shop/app",
	}
	image.parse(concat("@", ["nginx", digest])) == {
		"domain": "docker.io", "path": "library/nginx", "tag": "", "digest": digest,
		"normalized": concat("@", ["docker.io/library/nginx", digest]),
	}
	image.parse(concat("", ["localhost:5000/app:1.0@", digest])) == {
		"domain": "localhost:5000", "path": "app", "tag": "1.0", "digest": digest,
		"normalized": concat("", ["localhost:5000/app:1.0@", digest]),
	}
}

# --- violations ---

test_empty_list_allows_everything if {
	allowed("nginx", [])
	allowed("evil.io/x:1", [])
}

test_short_name_is_outside_private_registry if {
	violations("nginx:1.25", ["registry.example.com/"]) == {{
		"msg": `container "app" image "nginx:1.25" (docker.io/library/nginx:1.25) is not from an allowed registry`,
		"details": {
			"container": "app",
			"image": "nginx:1.25",
			"normalized": "docker.io/library/nginx:1.25",
			"allowed_registries": ["registry.example.com/"],
			"path": "spec.template.spec.containers[0].image",
		},
	}}
}

test_docker_library_prefix_matches_short_names if {
	allowed("nginx:1.25", ["docker.io/library/"])
	allowed("library/nginx:1.25", ["docker.io/library/"])
	allowed("docker.io/nginx:1.25", ["docker.io/library/"])
	allowed("index.docker.io/library/nginx:1.25", ["docker.io/library/"])
	not allowed("bitnami/redis:7.2", ["docker.io/library/"])
	allowed("bitnami/redis:7.2", ["docker.io/"])
}

test_registry_prefix_matching if {
	allowed("registry.example.com/shop/app:1", ["registry.example.com/"])
	allowed("registry.example.com/shop/app:1", ["ghcr.io/acme/", "registry.example.com/shop/"])
	not allowed("registry.example.com/other/app:1", ["registry.example.com/shop/"])
	not allowed("registry.example.com.evil.io/shop/app:1", ["registry.example.com/"])
}

test_registry_port_is_part_of_the_host if {
	allowed("registry.example.com:5000/shop/app:1", ["registry.example.com:5000/"])
	not allowed("registry.example.com:5000/shop/app:1", ["registry.example.com/"])
	allowed("registry.example.com:5000/shop/app", ["registry.example.com:5000"])
}

test_bare_host_entry_does_not_admit_lookalike_hosts if {
	allowed("registry.example.com/shop/app:1", ["registry.example.com"])
	not allowed("registry.example.com.evil.io/shop/app:1", ["registry.example.com"])
}

test_digest_references_are_judged_by_repository if {
	allowed(concat("@", ["registry.example.com/shop/app", digest]), ["registry.example.com/"])
	not allowed(concat("@", ["nginx", digest]), ["registry.example.com/"])
}

test_init_and_ephemeral_containers_are_judged if {
	o := json.patch(deployment([{"name": "app", "image": "registry.example.com/app:1"}]), [
		{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "init", "image": "busybox:1.36"}]},
		{"op": "add", "path": "/spec/template/spec/ephemeralContainers", "value": [{"name": "debug", "image": "quay.io/tools/debug:1"}]},
	])
	v := image_registry.violation with input as testing.review(o, {"allowed_registries": ["registry.example.com/"]})
	{x.details.container | some x in v} == {"init", "debug"}
	{x.details.path | some x in v} == {"spec.template.spec.initContainers[0].image", "spec.template.spec.ephemeralContainers[0].image"}
}

test_malformed_parameters_and_images_do_not_error if {
	allowed("nginx", "registry.example.com/")
	allowed("nginx", null)
	allowed("registry.example.com/app:1", [42, "registry.example.com/"])
	not allowed("nginx", [42, ""])
	count(image_registry.violation) == 0 with input as testing.review(deployment([{"name": "app", "image": 42}, {"name": "b"}]), {"allowed_registries": ["registry.example.com/"]})
}
