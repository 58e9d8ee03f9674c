package rollguard.k8s.deploy_permissions_test

import data.rollguard.k8s.deploy_permissions
import data.rollguard.lib.testing

workload(kind, ns) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": ns},
	"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

default_parameters := {
	"allowed_users": [],
	"allowed_groups": [],
	"high_risk_namespaces": [],
	"high_risk_environments": ["prod", "production"],
}

# The release pipeline may deploy; nobody else.
restricted := object.union(default_parameters, {"allowed_users": ["deploy-bot"], "allowed_groups": ["release-managers"]})

# The input for `user` in `groups` asking to `operation` (CREATE, UPDATE, ...) `obj`.
request_by(obj, operation, user, groups, parameters) := testing.request(
	obj,
	{
		"kind": {"group": "apps", "version": "v1"},
		"namespace": obj.metadata.namespace,
		"name": obj.metadata.name,
		"operation": operation,
		"userInfo": {"username": user, "groups": groups},
	},
	parameters,
)

alice(obj) := request_by(obj, "CREATE", "alice", ["developers", "system:authenticated"], restricted)

namespace(ns, labels) := {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}

inventory(namespaces) := {"namespace": {}, "cluster": {"v1": {"Namespace": {n.metadata.name: n | some n in namespaces}}}}

payments_high := inventory([namespace("payments", {"rollguard.io/risk": "high"})])

test_unlisted_user_in_high_risk_namespace_is_reported if {
	v := deploy_permissions.violation with input as alice(workload("Deployment", "payments"))
		with data.inventory as payments_high
	v == {{
		"msg": `user "alice" may not CREATE Deployment payments/web: namespace "payments" is high risk (label rollguard.io/risk is "high") and only allowed_users or allowed_groups may deploy there`,
		"details": {
			"user": "alice",
			"groups": ["developers", "system:authenticated"],
			"operation": "CREATE",
			"namespace": "payments",
			"reason": `label rollguard.io/risk is "high"`,
			"path": "metadata.namespace",
		},
	}}
}

test_allowed_user_passes if {
	inp := request_by(workload("Deployment", "payments"), "CREATE", "deploy-bot", [], restricted)
	count(deploy_permissions.violation) == 0 with input as inp with data.inventory as payments_high
}

test_member_of_allowed_group_passes if {
	inp := request_by(workload("Deployment", "payments"), "UPDATE", "bob", ["system:authenticated", "release-managers"], restricted)
	count(deploy_permissions.violation) == 0 with input as inp with data.inventory as payments_high
}

test_update_is_reported if {
	v := deploy_permissions.violation with input as request_by(workload("StatefulSet", "payments"), "UPDATE", "alice", [], restricted)
		with data.inventory as payments_high
	v == {{
		"msg": `user "alice" may not UPDATE StatefulSet payments/web: namespace "payments" is high risk (label rollguard.io/risk is "high") and only allowed_users or allowed_groups may deploy there`,
		"details": {
			"user": "alice",
			"groups": [],
			"operation": "UPDATE",
			"namespace": "payments",
			"reason": `label rollguard.io/risk is "high"`,
			"path": "metadata.namespace",
		},
	}}
}

test_other_operations_are_not_judged if {
	every operation in ["DELETE", "CONNECT", null] {
		inp := request_by(workload("Deployment", "payments"), operation, "alice", [], restricted)
		count(deploy_permissions.violation) == 0 with input as inp with data.inventory as payments_high
	}

	# Gatekeeper's audit sends no operation and no userInfo.
	audit := {"review": {"object": workload("Deployment", "payments"), "kind": {"kind": "Deployment"}}, "parameters": restricted}
	count(deploy_permissions.violation) == 0 with input as audit with data.inventory as payments_high
}

test_every_workload_kind_is_judged if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"] {
		v := deploy_permissions.violation with input as alice(workload(kind, "payments")) with data.inventory as payments_high
		{d.details.namespace | some d in v} == {"payments"}
	}
}

test_other_kinds_are_not_judged if {
	every kind in ["Service", "ConfigMap", "Role"] {
		count(deploy_permissions.violation) == 0 with input as alice(workload(kind, "payments")) with data.inventory as payments_high
	}
}

test_risk_label_other_than_high_passes if {
	inv := inventory([namespace("payments", {"rollguard.io/risk": "medium"})])
	count(deploy_permissions.violation) == 0 with input as alice(workload("Deployment", "payments")) with data.inventory as inv
}

test_namespace_missing_from_inventory_passes if {
	count(deploy_permissions.violation) == 0 with input as alice(workload("Deployment", "shop")) with data.inventory as payments_high
}

test_environment_label_in_high_risk_environments_is_reported if {
	inv := inventory([namespace("payments", {"rollguard.io/environment": "production"})])
	v := deploy_permissions.violation with input as alice(workload("Deployment", "payments")) with data.inventory as inv
	{d.details.reason | some d in v} == {`label rollguard.io/environment is "production"`}
}

test_other_environments_pass if {
	inv := inventory([namespace("payments", {"rollguard.io/environment": "staging"})])
	count(deploy_permissions.violation) == 0 with input as alice(workload("Deployment", "payments")) with data.inventory as inv
}

test_high_risk_environments_parameter_replaces_the_default if {
	parameters := object.union(restricted, {"high_risk_environments": ["staging"]})
	staging := inventory([namespace("payments", {"rollguard.io/environment": "staging"})])
	prod := inventory([namespace("payments", {"rollguard.io/environment": "prod"})])
	inp := request_by(workload("Deployment", "payments"), "CREATE", "alice", [], parameters)
	v := deploy_permissions.violation with input as inp with data.inventory as staging
	{d.details.reason | some d in v} == {`label rollguard.io/environment is "staging"`}
	count(deploy_permissions.violation) == 0 with input as inp with data.inventory as prod
}

test_namespace_name_pattern_is_reported_without_inventory if {
	parameters := object.union(restricted, {"high_risk_namespaces": ["prod-*", "billing"]})
	v := deploy_permissions.violation with input as request_by(workload("Deployment", "prod-eu"), "CREATE", "alice", [], parameters)
	v == {{
		"msg": `user "alice" may not CREATE Deployment prod-eu/web: namespace "prod-eu" is high risk (name matches "prod-*" in high_risk_namespaces) and only allowed_users or allowed_groups may deploy there`,
		"details": {
			"user": "alice",
			"groups": [],
			"operation": "CREATE",
			"namespace": "prod-eu",
			"reason": `name matches "prod-*" in high_risk_namespaces`,
			"path": "metadata.namespace",
		},
	}}
}

test_namespace_patterns if {
	parameters := object.union(restricted, {"high_risk_namespaces": ["billing", "shop-{eu,us}", "*-live", "team-?"]})
	every ns in ["billing", "shop-eu", "shop-us", "web-live", "team-a"] {
		v := deploy_permissions.violation with input as request_by(workload("Deployment", ns), "CREATE", "alice", [], parameters)
		count(v) == 1
	}
	every ns in ["billing-dev", "shop-ap", "live", "team-ab", "default"] {
		count(deploy_permissions.violation) == 0 with input as request_by(workload("Deployment", ns), "CREATE", "alice", [], parameters)
	}
}

test_malformed_pattern_only_matches_itself if {
	# Character classes are outside the accepted syntax: compared as a plain name, never an error.
	parameters := object.union(restricted, {"high_risk_namespaces": ["prod-[a-", "[a-c]x"]})
	count(deploy_permissions.violation) == 0 with input as request_by(workload("Deployment", "bx"), "CREATE", "alice", [], parameters)
	v := deploy_permissions.violation with input as request_by(workload("Deployment", "prod-[a-"), "CREATE", "alice", [], parameters)
	{d.details.reason | some d in v} == {`name matches "prod-[a-" in high_risk_namespaces`}
}

test_every_reason_is_listed if {
	parameters := object.union(restricted, {"high_risk_namespaces": ["pay*", "payments"]})
	inv := inventory([namespace("payments", {"rollguard.io/risk": "high", "rollguard.io/environment": "prod"})])
	v := deploy_permissions.violation with input as request_by(workload("Deployment", "payments"), "CREATE", "alice", [], parameters)
		with data.inventory as inv
	{d.details.reason | some d in v} == {concat(", ", [
		`label rollguard.io/environment is "prod"`,
		`label rollguard.io/risk is "high"`,
		`name matches "pay*" in high_risk_namespaces`,
		`name matches "payments" in high_risk_namespaces`,
	])}
}

test_nothing_is_enforced_without_allowed_identities if {
	parameters := object.union(default_parameters, {"high_risk_namespaces": ["*"]})
	inp := request_by(workload("Deployment", "payments"), "CREATE", "alice", [], parameters)
	count(deploy_permissions.violation) == 0 with input as inp with data.inventory as payments_high
}

test_allowed_groups_alone_restrict if {
	parameters := object.union(default_parameters, {"allowed_groups": ["release-managers"]})
	inp := request_by(workload("Deployment", "payments"), "CREATE", "alice", ["developers"], parameters)
	v := deploy_permissions.violation with input as inp with data.inventory as payments_high
	{d.details.user | some d in v} == {"alice"}
}

test_control_plane_is_not_judged if {
	every user_groups in [
		["system:kube-controller-manager", ["system:authenticated"]],
		["system:serviceaccount:kube-system:replicaset-controller", ["system:serviceaccounts", "system:serviceaccounts:kube-system"]],
		["system:node:worker-1", ["system:nodes", "system:authenticated"]],
	] {
		inp := request_by(workload("ReplicaSet", "payments"), "CREATE", user_groups[0], user_groups[1], restricted)
		count(deploy_permissions.violation) == 0 with input as inp with data.inventory as payments_high
	}
}

test_other_service_accounts_are_judged if {
	user := "system:serviceaccount:argo-rollouts:argo-rollouts"
	inp := request_by(workload("ReplicaSet", "payments"), "CREATE", user, ["system:serviceaccounts", "system:serviceaccounts:argo-rollouts"], restricted)
	v := deploy_permissions.violation with input as inp with data.inventory as payments_high
	{d.details.user | some d in v} == {user}
}

test_subresource_requests_are_not_judged if {
	inp := json.patch(alice(workload("Deployment", "payments")), [{"op": "add", "path": "/review/subResource", "value": "scale"}])
	count(deploy_permissions.violation) == 0 with input as inp with data.inventory as payments_high
}

test_unidentified_user_is_reported if {
	inp := json.patch(alice(workload("Deployment", "payments")), [{"op": "remove", "path": "/review/userInfo"}])
	v := deploy_permissions.violation with input as inp with data.inventory as payments_high
	v == {{
		"msg": `an unidentified user may not CREATE Deployment payments/web: namespace "payments" is high risk (label rollguard.io/risk is "high") and only allowed_users or allowed_groups may deploy there`,
		"details": {
			"user": "",
			"groups": [],
			"operation": "CREATE",
			"namespace": "payments",
			"reason": `label rollguard.io/risk is "high"`,
			"path": "metadata.namespace",
		},
	}}
}

test_namespace_comes_from_the_object_when_the_review_has_none if {
	inp := json.patch(alice(workload("Deployment", "payments")), [{"op": "remove", "path": "/review/namespace"}])
	v := deploy_permissions.violation with input as inp with data.inventory as payments_high
	{d.details.namespace | some d in v} == {"payments"}
}

test_malformed_parameters_fall_back_to_defaults if {
	parameters := {
		"allowed_users": "deploy-bot",
		"allowed_groups": ["release-managers", 7],
		"high_risk_namespaces": {"payments": true},
		"high_risk_environments": null,
	}
	inv := inventory([namespace("payments", {"rollguard.io/environment": "prod"})])
	v := deploy_permissions.violation with input as request_by(workload("Deployment", "payments"), "CREATE", "deploy-bot", [], parameters)
		with data.inventory as inv
	{d.details.reason | some d in v} == {`label rollguard.io/environment is "prod"`}
}
