package rollguard.changeset.version_skew_test

import data.rollguard.changeset.version_skew
import data.rollguard.lib.changeset_test as c
import data.rollguard.lib.testing

service(ns, name, version) := c.workload("Deployment", ns, name, "checkout:x", {
	"app.kubernetes.io/name": "checkout",
	"app.kubernetes.io/version": version,
})

api := service("shop", "checkout-api", "2.4.1")

test_minor_skew_above_the_limit_is_reported if {
	old := service("shop", "checkout-worker", "v2.1.0")
	v := version_skew.violation with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, old])
	v == {{
		"msg": "runs checkout 2.4.1 while Deployment shop/checkout-worker runs v2.1.0: 3 minor versions apart, more than the 1 allowed",
		"details": {
			"service": "checkout",
			"version": "2.4.1",
			"other": "Deployment shop/checkout-worker",
			"other_version": "v2.1.0",
			"minor_skew": 3,
			"max_minor_skew": 1,
			"case": "minor_skew",
			"path": `metadata.labels["app.kubernetes.io/version"]`,
		},
	}}
}

test_major_difference_is_reported if {
	next := service("eu", "checkout-api", "3.0")
	v := version_skew.violation with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, next])
	v == {{
		"msg": "runs checkout 2.4.1 while Deployment eu/checkout-api runs 3.0: the major versions differ",
		"details": {
			"service": "checkout",
			"version": "2.4.1",
			"other": "Deployment eu/checkout-api",
			"other_version": "3.0",
			"case": "major_skew",
			"path": `metadata.labels["app.kubernetes.io/version"]`,
		},
	}}
}

test_a_version_on_the_pod_template_only_is_named_there if {
	template_only := json.patch(api, [{"op": "replace", "path": "/metadata/labels", "value": {"app.kubernetes.io/name": "checkout"}}])
	old := service("shop", "checkout-worker", "v2.1.0")
	v := version_skew.violation with input as testing.create_review(template_only, {}) with data.inventory as testing.inventory([template_only, old])
	{x.details.path | some x in v} == {`spec.template.metadata.labels["app.kubernetes.io/version"]`}
}

test_skew_within_the_limit_passes if {
	close := service("shop", "checkout-worker", "2.3.9")
	count(version_skew.violation) == 0 with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, close])
	far := service("shop", "checkout-worker", "2.1.0")
	count(version_skew.violation) == 0 with input as testing.create_review(api, {"max_minor_skew": 3}) with data.inventory as testing.inventory([api, far])
}

test_non_semver_versions_and_other_services_are_ignored if {
	odd := service("shop", "checkout-worker", "2024-05-01")
	count(version_skew.violation) == 0 with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, odd])
	latest := service("shop", "checkout-api", "latest")
	old := service("shop", "checkout-worker", "1.0.0")
	count(version_skew.violation) == 0 with input as testing.create_review(latest, {}) with data.inventory as testing.inventory([latest, old])
	other := c.workload("Deployment", "shop", "search", "search:1", {"app.kubernetes.io/name": "search", "app.kubernetes.io/version": "0.1.0"})
	count(version_skew.violation) == 0 with input as testing.create_review(api, {}) with data.inventory as testing.inventory([api, other])
}

test_unlabelled_workload_is_not_judged if {
	plain := c.deployment("shop", "web", "web:1")
	count(version_skew.violation) == 0 with input as testing.create_review(plain, {}) with data.inventory as testing.inventory([plain, api])
}

test_the_gates_name_index_gives_the_same_answer if {
	old := service("shop", "checkout-worker", "2.1.0")
	refs := [["shop", "apps/v1", "Deployment", "checkout-api"], ["shop", "apps/v1", "Deployment", "checkout-worker"]]
	inv := object.union(testing.inventory([api, old]), {"rollguard_workloads": {"images": {}, "names": {"checkout": refs}}})
	v := version_skew.violation with input as testing.create_review(api, {}) with data.inventory as inv
	{x.details.minor_skew | some x in v} == {3}
}
