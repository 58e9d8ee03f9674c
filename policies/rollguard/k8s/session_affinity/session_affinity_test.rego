package rollguard.k8s.session_affinity_test

import data.rollguard.k8s.session_affinity
import data.rollguard.lib.testing

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

judge(svc, objs) := v if {
	v := session_affinity.violation with input as testing.review_in("shop", svc, {}) with data.inventory as testing.inventory(objs)
}

test_client_ip_in_front_of_deployment_is_reported if {
	judge(sticky, [workload("Deployment")]) == {{
		"msg": "pins each client to one pod (sessionAffinity: ClientIP) of Deployment checkout: sessions drop when a rollout replaces the pods",
		"details": {"sessionAffinity": "ClientIP", "workload_kind": "Deployment", "workload": "checkout", "path": "spec.sessionAffinity"},
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
