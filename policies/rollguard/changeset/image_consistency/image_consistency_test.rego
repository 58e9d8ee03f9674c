package rollguard.changeset.image_consistency_test

import data.rollguard.changeset.image_consistency
import data.rollguard.lib.changeset_test as c
import data.rollguard.lib.testing

api := c.deployment("shop", "api", "registry.example.com/shop/api:1.4.0")

worker := c.deployment("shop", "worker", "registry.example.com/shop/api:1.3.2")

cron := c.workload("Job", "ops", "report", "registry.example.com/shop/api@sha256:abc", {})

test_one_image_at_two_versions_is_reported if {
	v := image_consistency.violation with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, worker])
	v == {{
		"msg": "image registry.example.com/shop/api runs at 1.4.0 here but at 1.3.2 in Deployment shop/worker: a half-promoted release",
		"details": {
			"image": "registry.example.com/shop/api",
			"versions": ["1.4.0"],
			"other_versions": ["1.3.2"],
			"others": [{"workload": "Deployment shop/worker", "container": "app", "version": "1.3.2"}],
			"path": "spec.template.spec.containers[0].image",
		},
	}}
}

test_every_namespace_and_digest_counts if {
	v := image_consistency.violation with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, worker, cron])
	v == {{
		"msg": "image registry.example.com/shop/api runs at 1.4.0 here but at 1.3.2, sha256:abc in Deployment shop/worker, Job ops/report: a half-promoted release",
		"details": {
			"image": "registry.example.com/shop/api",
			"versions": ["1.4.0"],
			"other_versions": ["1.3.2", "sha256:abc"],
			"others": [
				{"workload": "Deployment shop/worker", "container": "app", "version": "1.3.2"},
				{"workload": "Job ops/report", "container": "app", "version": "sha256:abc"},
			],
			"path": "spec.template.spec.containers[0].image",
		},
	}}
}

test_same_version_everywhere_passes if {
	same := c.deployment("shop", "worker", "registry.example.com/shop/api:1.4.0")
	count(image_consistency.violation) == 0 with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, same])
}

test_docker_hub_names_are_normalised if {
	a := c.deployment("shop", "a", "nginx:1.27")
	b := c.deployment("shop", "b", "docker.io/library/nginx:1.25")
	v := image_consistency.violation with input as testing.create_review(a, {}) with data.inventory as testing.inventory([a, b])
	{[x.details.image, x.details.other_versions] | some x in v} == {["docker.io/library/nginx", ["1.25"]]}
	untagged := c.deployment("shop", "c", "nginx")
	w := image_consistency.violation with input as testing.create_review(untagged, {}) with data.inventory as testing.inventory([a, untagged])
	{x.details.versions | some x in w} == {["latest"]}
}

test_the_path_names_the_first_container_running_the_image if {
	two := json.patch(api, [
		{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "registry.example.com/shop/api:1.4.0"}]},
		{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"image": "registry.example.com/shop/api:1.4.0"}},
	])
	v := image_consistency.violation with input as testing.create_review(two, {}) with data.inventory as testing.inventory([two, worker])
	{x.details.path | some x in v} == {"spec.template.spec.containers[0].image"}

	# A container without a name cannot be looked up: the pod spec is named instead.
	unnamed := json.patch(api, [{"op": "remove", "path": "/spec/template/spec/containers/0/name"}])
	w := image_consistency.violation with input as testing.create_review(unnamed, {}) with data.inventory as testing.inventory([unnamed, worker])
	{x.details.path | some x in w} == {"spec.template.spec"}
}

test_the_object_itself_and_other_images_do_not_count if {
	other := c.deployment("shop", "cache", "registry.example.com/shop/api-cache:0.1")
	count(image_consistency.violation) == 0 with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, other])
	count(image_consistency.violation) == 0 with input as testing.create_review(api, {}) with data.inventory as testing.inventory([])
}

test_ignore_images_parameter if {
	params := {"ignore_images": ["registry.example.com/shop/api"]}
	count(image_consistency.violation) == 0 with input as testing.create_review(api, params) with data.inventory as testing.inventory([api, worker])
	a := c.deployment("shop", "a", "busybox:1.36")
	b := c.deployment("shop", "b", "busybox:1.35")
	count(image_consistency.violation) == 0 with input as testing.create_review(a, {"ignore_images": ["busybox"]}) with data.inventory as testing.inventory([a, b])
}

test_the_gates_image_index_gives_the_same_answer if {
	refs := [["shop", "apps/v1", "Deployment", "api"], ["shop", "apps/v1", "Deployment", "worker"]]
	inv := object.union(testing.inventory([api, worker]), {"rollguard_workloads": {"images": {"api": refs}, "names": {}}})
	v := image_consistency.violation with input as testing.create_review(api, {}) with data.inventory as inv
	{x.details.other_versions | some x in v} == {["1.3.2"]}
}

# The index lists every workload by image name: one it does not list is not compared.
test_a_workload_the_index_does_not_list_is_not_compared if {
	unlisted := object.union(testing.inventory([api, worker]), {"rollguard_workloads": {"images": {}, "names": {}}})
	count(image_consistency.violation) == 0 with input as testing.create_review(api, {}) with data.inventory as unlisted
}

# The index lists the workload under review alone under its image name: nothing to compare,
# even with another workload of that image in the inventory.
test_the_index_listing_only_the_reviewed_workload_compares_nothing if {
	alone := object.union(testing.inventory([api, worker]), {"rollguard_workloads": {"images": {"api": [["shop", "apps/v1", "Deployment", "api"]]}, "names": {}}})
	count(image_consistency.violation) == 0 with input as testing.create_review(api, {}) with data.inventory as alone
}

# A workload of the same name in another namespace is another workload.
test_the_index_listing_a_namesake_in_another_namespace_compares_it if {
	namesake := c.deployment("staging", "api", "registry.example.com/shop/api:1.3.2")
	refs := [["staging", "apps/v1", "Deployment", "api"]]
	inv := object.union(testing.inventory([api, namesake]), {"rollguard_workloads": {"images": {"api": refs}, "names": {}}})
	v := image_consistency.violation with input as testing.create_review(api, {}) with data.inventory as inv
	{x.details.others | some x in v} == {[{"workload": "Deployment staging/api", "container": "app", "version": "1.3.2"}]}
}
