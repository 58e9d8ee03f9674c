package rollguard.lib.k8s_test

import data.rollguard.lib.k8s

svc(name, selector) := {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"selector": selector}}

inventory := {"namespace": {"shop": {"v1": {"Service": {
	"web": svc("web", {"app": "web", "tier": "front"}),
	"api": svc("api", {"app": "api"}),
	"odd": svc("odd", {"app": 1}),
}}}}}

index := {"shop": {"Service": {
	"by_label": {"app": {"web": [["v1", "web"]], "api": [["v1", "api"]]}},
	"unindexed": [["v1", "odd"]],
}}}

test_candidates_without_index_are_every_object if {
	names := [o.metadata.name | some o in k8s.selector_candidates("shop", "Service", {"app": "web"})] with data.inventory as inventory
	names == ["api", "odd", "web"]
}

test_candidates_with_index_are_the_matching_bucket_and_the_unindexed if {
	inv := object.union(inventory, {"rollguard_selectors": index})
	names := [o.metadata.name | some o in k8s.selector_candidates("shop", "Service", {"app": "web", "tier": "front"})] with data.inventory as inv
	names == ["odd", "web"]
}

test_candidates_for_an_unknown_namespace_are_empty if {
	inv := object.union(inventory, {"rollguard_selectors": index})
	k8s.selector_candidates("other", "Service", {"app": "web"}) == [] with data.inventory as inv
}

test_label_selector_semantics if {
	labels := {"app": "web", "tier": "front"}
	k8s.selector_matches({"matchLabels": {"app": "web"}}, labels)
	k8s.selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}, labels)
	k8s.selector_matches({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, labels)
	not k8s.selector_matches({"matchLabels": {"app": "api"}}, labels)
	not k8s.selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, labels)
	not k8s.selector_matches({}, labels)
	k8s.map_selector_matches({"app": "web"}, labels)
	not k8s.map_selector_matches({}, labels)
	not k8s.map_selector_matches({"app": "web", "zone": "a"}, labels)
}

test_scaled_values_round_like_kubernetes if {
	k8s.scaled_value("25%", 3, true) == 1
	k8s.scaled_value("25%", 3, false) == 0
	k8s.scaled_value(2, 3, false) == 2
	not k8s.scaled_value("a lot", 3, true)
}

test_malformed_container_lists_give_no_containers if {
	k8s.containers({"kind": "Pod", "spec": {"containers": null}}) == []
	k8s.all_containers({"kind": "Pod", "spec": {"containers": "web", "initContainers": 3}}) == []
	k8s.containers({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a"}, "junk"]}}}}) == [{"name": "a"}]
}
