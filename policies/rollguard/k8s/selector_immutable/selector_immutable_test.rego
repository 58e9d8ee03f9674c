package rollguard.k8s.selector_immutable_test

import data.rollguard.k8s.selector_immutable
import data.rollguard.lib.testing

workload(kind, selector) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {
		"replicas": 3,
		"selector": selector,
		"template": {"metadata": {"labels": {"app": "web", "track": "stable"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
	},
}

update(old, new) := testing.request(new, {"oldObject": old, "operation": "UPDATE"}, {})

web := {"matchLabels": {"app": "web"}}

test_changed_selector_is_reported if {
	changed := {"matchLabels": {"app": "web", "track": "stable"}}
	v := selector_immutable.violation with input as update(workload("Deployment", web), workload("Deployment", changed))
	v == {{
		"msg": "spec.selector changes on update: apps/v1 rejects the change, and where it is accepted the pods of the old selector are orphaned",
		"details": {"old_selector": web, "new_selector": changed, "path": "spec.selector"},
	}}
}

test_unchanged_selector_passes if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout"] {
		count(selector_immutable.violation) == 0 with input as update(workload(kind, web), workload(kind, {"matchLabels": {"app": "web"}}))
	}
}

test_create_is_not_judged if {
	inp := {"review": {"object": workload("Deployment", web), "operation": "CREATE", "kind": {"kind": "Deployment"}}, "parameters": {}}
	count(selector_immutable.violation) == 0 with input as inp

	no_old := {"review": {"object": workload("Deployment", web), "operation": "UPDATE", "kind": {"kind": "Deployment"}}, "parameters": {}}
	count(selector_immutable.violation) == 0 with input as no_old
}

test_empty_and_missing_parts_are_equal if {
	old := {"matchLabels": {"app": "web"}, "matchExpressions": []}
	new := {"matchLabels": {"app": "web"}}
	count(selector_immutable.violation) == 0 with input as update(workload("Deployment", old), workload("Deployment", new))

	old_expr := {"matchExpressions": [{"key": "app", "operator": "Exists", "values": []}], "matchLabels": null}
	new_expr := {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
	count(selector_immutable.violation) == 0 with input as update(workload("StatefulSet", old_expr), workload("StatefulSet", new_expr))
}

test_match_expression_changes_and_reordering_are_reported if {
	a := {"key": "app", "operator": "In", "values": ["web"]}
	b := {"key": "track", "operator": "NotIn", "values": ["canary"]}
	old := {"matchExpressions": [a, b]}
	reordered := {"matchExpressions": [b, a]}
	v := selector_immutable.violation with input as update(workload("DaemonSet", old), workload("DaemonSet", reordered))
	count(v) == 1

	widened := {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}, b]}
	w := selector_immutable.violation with input as update(workload("DaemonSet", old), workload("DaemonSet", widened))
	{x.details.new_selector | some x in w} == {widened}
}

test_map_selectors_of_replication_controllers if {
	old := object.union(workload("ReplicationController", {"app": "web"}), {"apiVersion": "v1"})
	same := object.union(workload("ReplicationController", {"app": "web"}), {"apiVersion": "v1"})
	count(selector_immutable.violation) == 0 with input as update(old, same)

	changed := object.union(workload("ReplicationController", {"app": "web", "track": "stable"}), {"apiVersion": "v1"})
	v := selector_immutable.violation with input as update(old, changed)
	{x.details | some x in v} == {{"old_selector": {"app": "web"}, "new_selector": {"app": "web", "track": "stable"}, "path": "spec.selector"}}
}

test_missing_selector_on_either_side_is_not_judged if {
	bare := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}}
	count(selector_immutable.violation) == 0 with input as update(bare, workload("Deployment", web))
	count(selector_immutable.violation) == 0 with input as update(workload("Deployment", web), bare)
	count(selector_immutable.violation) == 0 with input as update(workload("Deployment", null), workload("Deployment", web))
}

test_malformed_selectors_raise_no_error if {
	v := selector_immutable.violation with input as update(workload("Deployment", "app=web"), workload("Deployment", web))
	count(v) == 1
	w := selector_immutable.violation with input as update(
		workload("Deployment", {"matchLabels": "app=web", "matchExpressions": {"key": "app"}}),
		workload("Deployment", {"matchLabels": "app=web", "matchExpressions": [{"key": "app"}]}),
	)
	count(w) == 1
	same := {"matchExpressions": [null, "x"]}
	count(selector_immutable.violation) == 0 with input as update(workload("Deployment", same), workload("Deployment", same))
}
