# METADATA
# title: Test helpers
# description: >-
#   Shared helpers for the policies' Rego tests: the input a Kubernetes policy gets
#   (Gatekeeper's input.review and input.parameters) and data.inventory in
#   Gatekeeper's layout. A `_test.rego` module, so it is loaded for tests only:
#   never part of the runtime bundle, the webhook's policy folder or a Gatekeeper
#   template.
# scope: package
package rollguard.lib.testing

# The input of a Kubernetes policy judging `obj`: Gatekeeper's `input.review` (the
# AdmissionReview request) and the policy's `input.parameters`.
review(obj, parameters) := {"review": {"object": obj, "kind": {"kind": obj.kind}}, "parameters": parameters}

# review(obj, parameters) for a request the API server names in `namespace`.
review_in(namespace, obj, parameters) := request(obj, {"namespace": namespace}, parameters)

# The input `rollguard check` builds for `obj`: a CREATE request naming the object's
# namespace and name.
create_review(obj, parameters) := request(
	obj,
	{"namespace": obj.metadata.namespace, "name": obj.metadata.name, "operation": "CREATE"},
	parameters,
)

# review(obj, parameters) with more `fields` of the request (operation, name, userInfo, oldObject, ...).
request(obj, fields, parameters) := {
	"review": object.union({"object": obj, "kind": {"kind": obj.kind}}, fields),
	"parameters": parameters,
}

# data.inventory holding the namespaced `objs`, in Gatekeeper's layout:
# namespace[ns][apiVersion][kind][name].
inventory(objs) := {"namespace": {ns: by_api(objs, ns) | some o in objs; ns := o.metadata.namespace}}

by_api(objs, ns) := {av: by_kind(objs, ns, av) |
	some o in objs
	o.metadata.namespace == ns
	av := o.apiVersion
}

by_kind(objs, ns, av) := {k: by_name(objs, ns, av, k) |
	some o in objs
	o.metadata.namespace == ns
	o.apiVersion == av
	k := o.kind
}

by_name(objs, ns, av, k) := {o.metadata.name: o |
	some o in objs
	o.metadata.namespace == ns
	o.apiVersion == av
	o.kind == k
}

test_review_is_gatekeepers_input if {
	obj := {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
	review(obj, {"n": 1}) == {"review": {"object": obj, "kind": {"kind": "Deployment"}}, "parameters": {"n": 1}}
	review_in("shop", obj, {}) == {"review": {"object": obj, "kind": {"kind": "Deployment"}, "namespace": "shop"}, "parameters": {}}
	request(obj, {"operation": "CREATE", "kind": {"group": "apps"}}, {}) == {
		"review": {"object": obj, "kind": {"group": "apps", "kind": "Deployment"}, "operation": "CREATE"},
		"parameters": {},
	}
	create_review(obj, {}) == {
		"review": {"object": obj, "kind": {"kind": "Deployment"}, "namespace": "shop", "name": "web", "operation": "CREATE"},
		"parameters": {},
	}
}

test_inventory_is_gatekeepers_layout if {
	web := {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
	svc := {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}}
	api := {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "ops"}}
	node := {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
	inventory([web, svc, api, node]) == {"namespace": {
		"shop": {"apps/v1": {"Deployment": {"web": web}}, "v1": {"Service": {"web": svc}}},
		"ops": {"apps/v1": {"Deployment": {"api": api}}},
	}}
	inventory([]) == {"namespace": {}}
}
