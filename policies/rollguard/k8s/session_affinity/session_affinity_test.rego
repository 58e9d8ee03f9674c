package rollguard.k8s.session_affinity_test

import data.rollguard.k8s.session_affinity

labels := {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/version": "2.4.1"}

workload(kind) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

service(spec) := {
	"apiVersion": "v1",
	"kind": "Service",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": object.union({"selector": {"app.kubernetes.io/name": "checkout"}, "ports": [{"port": 80}]}, spec),
}

sticky := service({"sessionAffinity": "ClientIP"})

review(o) := {"review": {"object": o, "kind": {"kind": o.kind}, "namespace": "shop"}, "parameters": {}}

# Gatekeeper's inventory layout: namespace[ns][apiVersion][kind][name].
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

judge(svc, objs) := v if {
	v := session_affinity.violation with input as review(svc) with data.inventory as inventory(objs)
}

test_client_ip_in_front_of_deployment_is_reported if {
	judge(sticky, [workload("Deployment")]) == {{
		"msg": "pins each client to one pod (sessionAffinity: ClientIP) of Deployment checkout: sessions drop when a rollout replaces the pods",
		"details": {"sessionAffinity": "ClientIP", "workload_kind": "Deployment", "workload": "checkout"},
	}}
}

test_no_affinity_passes if {
	count(judge(service({}), [workload("Deployment")])) == 0
	count(judge(service({"sessionAffinity": "None"}), [workload("Deployment")])) == 0
}

test_every_rolling_kind_is_matched if {
	ro := object.union(workload("Rollout"), {"apiVersion": "argoproj.io/v1alpha1"})
	v := judge(sticky, [workload("StatefulSet"), workload("DaemonSet"), ro])
	{x.details.workload_kind | some x in v} == {"StatefulSet", "DaemonSet", "Rollout"}
}

test_non_rolling_workloads_pass if {
	count(judge(sticky, [workload("ReplicaSet"), workload("Job")])) == 0
}

test_selector_must_match if {
	other := service({"sessionAffinity": "ClientIP", "selector": {"app.kubernetes.io/name": "cart"}})
	count(judge(other, [workload("Deployment")])) == 0
	no_selector := json.remove(sticky, ["spec/selector"])
	count(judge(no_selector, [workload("Deployment")])) == 0
}

test_other_namespace_does_not_count if {
	elsewhere := object.union(workload("Deployment"), {"metadata": {"namespace": "other"}})
	count(judge(sticky, [elsewhere])) == 0
}

test_malformed_inputs_do_not_error if {
	count(judge(service({"sessionAffinity": "ClientIP", "selector": "app=checkout"}), [workload("Deployment")])) == 0
	broken := object.union(workload("Deployment"), {"spec": {"template": "x"}})
	count(judge(sticky, [broken])) == 0
}
