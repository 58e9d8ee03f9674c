package rollguard.governance.dependency_order_test

import data.rollguard.governance.dependency_order
import data.rollguard.lib.changeset_test as c
import data.rollguard.lib.testing

consumer(needs) := object.union(c.deployment("shop", "orders", "registry.example.com/orders:1.8.0"), {"metadata": {"annotations": {"rollguard.io/depends-on": needs}}})

provider(name, version) := c.workload("Deployment", "shop", name, sprintf("registry.example.com/%s:9.9.9", [name]), {"app.kubernetes.io/version": version})

judge(obj, objs, context) := v if {
	v := dependency_order.violation with input as testing.create_review(obj, {})
		with data.inventory as testing.inventory(array.concat([obj], objs))
		with data.rollguard.context as context
}

prod := {"environment": {"name": "prod"}, "store": false, "deployed": []}

prod_with_store(deployed) := {"environment": {"name": "prod"}, "store": true, "deployed": deployed}

test_provider_in_the_change_at_the_required_version_passes if {
	count(judge(consumer("payments>=2.4.0"), [provider("payments", "2.4.1")], prod)) == 0
	count(judge(consumer("payments>=2.4"), [provider("payments", "v2.4.0")], prod)) == 0
	count(judge(consumer("payments >= 2"), [provider("payments", "3.0.0-rc.1")], prod)) == 0
}

test_provider_in_the_change_below_the_required_version_is_reported if {
	judge(consumer("payments>=2.4.0"), [provider("payments", "2.3.9")], prod) == {{
		"msg": "needs Deployment shop/payments 2.4.0 or later, but this change deploys it at 2.3.9",
		"details": {"provider": "Deployment shop/payments", "required": "2.4.0", "version": "2.3.9", "source": "annotation rollguard.io/depends-on"},
	}}
}

test_major_versions_compare_as_numbers if {
	count(judge(consumer("payments>=10.0"), [provider("payments", "9.12.0")], prod)) == 1
	count(judge(consumer("payments>=2.10"), [provider("payments", "2.9.0")], prod)) == 1
	count(judge(consumer("payments>=2.10"), [provider("payments", "2.10.0")], prod)) == 0
}

test_unreadable_provider_version_is_reported if {
	judge(consumer("payments>=2.4.0"), [provider("payments", "latest")], prod) == {{
		"msg": "needs Deployment shop/payments 2.4.0 or later, but its version \"latest\" cannot be compared",
		"details": {"provider": "Deployment shop/payments", "required": "2.4.0", "version": "latest", "source": "annotation rollguard.io/depends-on"},
	}}
}

test_image_tag_is_the_version_without_a_label if {
	untagged := c.deployment("shop", "payments", "registry.example.com:5000/payments:2.5.0@sha256:abc")
	count(judge(consumer("payments>=2.4.0"), [untagged], prod)) == 0
	old := c.deployment("shop", "payments", "registry.example.com:5000/payments:2.3.0")
	count(judge(consumer("payments>=2.4.0"), [old], prod)) == 1
}

test_provider_absent_without_a_store_says_so if {
	judge(consumer("payments>=2.4.0"), [], prod) == {{
		"msg": "needs shop/payments 2.4.0 or later, which is not in this change, and no decision store was given (--store) to show what runs in prod",
		"details": {"provider": "shop/payments", "required": "2.4.0", "environment": "prod", "source": "annotation rollguard.io/depends-on"},
	}}
}

test_provider_absent_but_deployed_per_the_store_passes if {
	deployed := [{"kind": "Deployment", "namespace": "shop", "name": "payments", "version": "2.4.2", "images": [], "time": "2026-11-20T10:00:00.000000Z"}]
	count(judge(consumer("payments>=2.4.0"), [], prod_with_store(deployed))) == 0
}

test_provider_absent_and_older_in_the_store_is_reported if {
	deployed := [{"kind": "Deployment", "namespace": "shop", "name": "payments", "version": "2.3.0", "images": [], "time": "2026-11-20T10:00:00.000000Z"}]
	judge(consumer("payments>=2.4.0"), [], prod_with_store(deployed)) == {{
		"msg": "needs shop/payments 2.4.0 or later, which is not in this change; the decision store shows 2.3.0 last deployed to prod at 2026-11-20T10:00:00.000000Z",
		"details": {"provider": "shop/payments", "required": "2.4.0", "environment": "prod", "source": "annotation rollguard.io/depends-on", "deployed": "2.3.0", "deployed_at": "2026-11-20T10:00:00.000000Z"},
	}}
}

test_provider_absent_from_store_and_change_is_reported if {
	other := [{"kind": "Deployment", "namespace": "billing", "name": "payments", "version": "9.0.0", "images": [], "time": "2026-11-20T10:00:00.000000Z"}]
	judge(consumer("payments>=2.4.0"), [], prod_with_store(other)) == {{
		"msg": "needs shop/payments 2.4.0 or later, which is not in this change, and the decision store has no passed deployment of it to prod",
		"details": {"provider": "shop/payments", "required": "2.4.0", "environment": "prod", "source": "annotation rollguard.io/depends-on"},
	}}
}

test_other_namespace_and_several_entries if {
	billing := object.union(provider("payments", "2.4.0"), {"metadata": {"namespace": "billing"}})
	v := judge(consumer("billing/payments>=2.4, inventory>=1.0"), [billing, provider("inventory", "0.9.0")], prod)
	v == {{
		"msg": "needs Deployment shop/inventory 1.0 or later, but this change deploys it at 0.9.0",
		"details": {"provider": "Deployment shop/inventory", "required": "1.0", "version": "0.9.0", "source": "annotation rollguard.io/depends-on"},
	}}
}

test_entries_without_a_version_only_order_the_rollout if {
	count(judge(consumer("payments, inventory"), [], prod)) == 0
}

test_unreadable_entries_are_reported if {
	judge(consumer("payments>2.4"), [], prod) == {{
		"msg": "cannot read \"payments>2.4\" in annotation rollguard.io/depends-on: write `name`, `name>=version` or `namespace/name>=version`, separated by commas",
		"details": {"entry": "payments>2.4", "source": "annotation rollguard.io/depends-on"},
	}}
	judge(consumer("payments>=soon"), [], prod) == {{
		"msg": "cannot compare \"payments>=soon\" in annotation rollguard.io/depends-on: versions are numbers like 2, 2.4 or v2.4.1",
		"details": {"entry": "payments>=soon", "source": "annotation rollguard.io/depends-on"},
	}}
}

test_config_dependencies_count_too if {
	plain := c.deployment("shop", "orders", "registry.example.com/orders:1.8.0")
	context := object.union(prod, {"dependencies": {"shop/orders": ["payments>=2.4.0"]}})
	judge(plain, [provider("payments", "2.0.0")], context) == {{
		"msg": "needs Deployment shop/payments 2.4.0 or later, but this change deploys it at 2.0.0",
		"details": {"provider": "Deployment shop/payments", "required": "2.4.0", "version": "2.0.0", "source": "rollguard.yaml dependencies"},
	}}
	count(judge(plain, [provider("payments", "2.0.0")], object.union(prod, {"dependencies": {"orders": ["payments>=2.4.0"]}}))) == 1
	count(judge(plain, [provider("payments", "2.0.0")], prod)) == 0
}

test_pod_template_annotation_counts_when_the_object_has_none if {
	plain := c.deployment("shop", "orders", "registry.example.com/orders:1.8.0")
	templated := json.patch(plain, [{"op": "add", "path": "/spec/template/metadata/annotations", "value": {"rollguard.io/depends-on": "payments>=2.4.0"}}])
	count(judge(templated, [provider("payments", "2.3.0")], prod)) == 1
	both := object.union(templated, {"metadata": {"annotations": {"rollguard.io/depends-on": "payments>=2.0"}}})
	count(judge(both, [provider("payments", "2.3.0")], prod)) == 0
}
