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

# A neighbour's malformed selector matches nothing instead of stopping the evaluation.
test_malformed_selectors_match_nothing if {
	labels := {"app": "web"}
	not k8s.selector_matches(5, labels)
	not k8s.selector_matches("app=web", labels)
	not k8s.selector_matches({"matchLabels": 5}, labels)
	not k8s.selector_matches({"matchLabels": "app=web"}, labels)
	not k8s.selector_matches({"matchLabels": null}, labels)
	not k8s.selector_matches({"matchExpressions": 5}, labels)
	not k8s.selector_matches({"matchExpressions": "app In (web)"}, labels)
	not k8s.selector_matches({"matchLabels": {"app": "web"}, "matchExpressions": 5}, labels)
	not k8s.selector_matches({"matchLabels": 5, "matchExpressions": [{"key": "app", "operator": "Exists"}]}, labels)
}

test_a_malformed_selector_leaves_the_others_matching if {
	selectors := {
		"number": {"matchLabels": 7},
		"string": {"matchExpressions": "app"},
		"good": {"matchLabels": {"app": "web"}},
	}
	matching := {name | some name, s in selectors; k8s.selector_matches(s, {"app": "web", "tier": "front"})}
	matching == {"good"}
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

test_pod_services_are_the_selecting_ones_by_name if {
	services := [
		svc("web", {"app": "web"}),
		svc("all", {}),
		svc("front", {"tier": "front"}),
		{"metadata": {"name": 7}, "spec": {"selector": {"app": "web"}}},
		svc("api", {"app": "api"}),
	]
	names := [s.metadata.name | some s in k8s.pod_services(services, {"app": "web", "tier": "front"})]
	names == ["front", "web"]
	k8s.pod_services(services, {}) == []
	k8s.pod_services([], {"app": "web"}) == []
}

routed(svc_ports, c, containers) if {
	k8s.service_routes_to({"spec": {"selector": {"app": "web"}, "ports": svc_ports}}, c, containers)
}

test_a_service_routes_to_the_container_its_target_names if {
	app := {"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}
	metrics := {"name": "metrics", "ports": [{"name": "metrics", "containerPort": 9090}]}
	shipper := {"name": "logs"}
	pod := [app, metrics, shipper]

	routed([{"port": 80, "targetPort": "http"}], app, pod)
	not routed([{"port": 80, "targetPort": "http"}], metrics, pod)
	not routed([{"port": 80, "targetPort": "http"}], shipper, pod)
	routed([{"port": 80, "targetPort": 9090}], metrics, pod)
	routed([{"port": 9090}], metrics, pod)
	not routed([{"port": 9090}], shipper, pod)

	# 7000 is declared by nobody: only a container without ports can be listening there.
	routed([{"port": 80, "targetPort": 7000}], shipper, pod)
	not routed([{"port": 80, "targetPort": 7000}], app, pod)

	# A named target nobody declares reaches nobody; no ports at all reaches everybody.
	not routed([{"port": 80, "targetPort": "grpc"}], shipper, pod)
	routed([], app, pod)
	k8s.service_routes_to({"spec": {"selector": {"app": "web"}}}, metrics, pod)
}

test_serving_containers if {
	app := {"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}
	worker := {"name": "worker"}
	web := {"spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8081}]}}

	k8s.serving_container(app, "Deployment", [app], [])
	not k8s.serving_container(worker, "Deployment", [worker], [])
	k8s.serving_container(worker, "Deployment", [worker], [web])

	# A bare Pod serves only through a Service.
	not k8s.serving_container(app, "Pod", [app], [])
	not k8s.serving_container(app, "Pod", [app], [web])
	k8s.serving_container(worker, "Pod", [app, worker], [web])
}

test_malformed_ports_raise_no_error if {
	odd := {"name": "odd", "ports": "http"}
	k8s.container_ports(odd) == []
	not k8s.declares_ports({"name": "none", "ports": []})
	routed([{"port": 80, "targetPort": 8080}], odd, [odd, {"name": "x", "ports": [null, 3]}])
	not routed([{"targetPort": null}], odd, [odd])
	not routed(["80"], odd, [odd])
}

test_container_paths_per_kind if {
	deployment := {"kind": "Deployment", "spec": {"template": {"spec": {
		"initContainers": [{"name": "init"}],
		"containers": [{"name": "web"}, {"name": "side"}],
	}}}}
	paths := k8s.obj_container_paths with input.review.object as deployment
	paths == {
		"init": "spec.template.spec.initContainers[0]",
		"web": "spec.template.spec.containers[0]",
		"side": "spec.template.spec.containers[1]",
	}
	cron := {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job"}]}}}}}}
	k8s.obj_container_paths.job == "spec.jobTemplate.spec.template.spec.containers[0]" with input.review.object as cron
	pod := {"kind": "Pod", "spec": {"containers": [{"name": "p"}, "not a container"]}}
	k8s.obj_container_paths == {"p": "spec.containers[0]"} with input.review.object as pod
}

test_container_paths_of_a_repeated_name_raise_no_error if {
	pod := {"kind": "Pod", "spec": {
		"containers": [{"name": "web"}, {"name": "web", "image": "web:2"}],
		"initContainers": {"name": "not a list"},
	}}
	k8s.obj_container_paths == {"web": "spec.containers[0]"} with input.review.object as pod
}

test_container_field_path if {
	deployment := {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}
	k8s.container_field_path({"name": "b"}, "image") == "spec.template.spec.containers[1].image" with input.review.object as deployment
	not k8s.container_field_path({"name": "c"}, "image") with input.review.object as deployment
}

test_pod_metadata_path_per_kind if {
	k8s.obj_pod_metadata_path == "spec.template.metadata" with input.review.object as {"kind": "Deployment"}
	k8s.obj_pod_metadata_path == "spec.jobTemplate.spec.template.metadata" with input.review.object as {"kind": "CronJob"}
	k8s.obj_pod_metadata_path == "metadata" with input.review.object as {"kind": "Pod"}
}
