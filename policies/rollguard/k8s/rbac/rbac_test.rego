package rollguard.k8s.rbac_test

import data.rollguard.k8s.rbac
import data.rollguard.lib.testing

role(kind, rules) := {
	"apiVersion": "rbac.authorization.k8s.io/v1",
	"kind": kind,
	"metadata": {"name": "checkout", "namespace": "shop"},
	"rules": rules,
}

binding(kind, role_ref, subjects) := {
	"apiVersion": "rbac.authorization.k8s.io/v1",
	"kind": kind,
	"metadata": {"name": "checkout", "namespace": "shop"},
	"roleRef": object.union({"apiGroup": "rbac.authorization.k8s.io"}, role_ref),
	"subjects": subjects,
}

cluster_admin := {"kind": "ClusterRole", "name": "cluster-admin"}

judge(o) := v if {
	v := rbac.violation with input as testing.review_in("shop", o, {})
}

test_narrow_role_passes if {
	count(judge(role("Role", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]))) == 0
}

test_wildcards_are_reported_per_field if {
	v := judge(role("ClusterRole", [
		{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
		{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
	]))
	v == {
		{"msg": `rules[1] grants "*" in apiGroups`, "details": {"rule": 1, "field": "apiGroups", "value": "*", "case": "wildcard", "path": "rules[1].apiGroups"}},
		{"msg": `rules[1] grants "*" in resources`, "details": {"rule": 1, "field": "resources", "value": "*", "case": "wildcard", "path": "rules[1].resources"}},
		{"msg": `rules[1] grants "*" in verbs`, "details": {"rule": 1, "field": "verbs", "value": "*", "case": "wildcard", "path": "rules[1].verbs"}},
	}
}

test_escalating_verbs_are_reported if {
	v := judge(role("Role", [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["get", "bind", "escalate"]}]))
	v == {
		{
			"msg": `rules[0] grants the "bind" verb, which lets the holder raise its own privileges`,
			"details": {"rule": 0, "verb": "bind", "resources": ["roles"], "case": "escalating_verb", "path": "rules[0].verbs"},
		},
		{
			"msg": `rules[0] grants the "escalate" verb, which lets the holder raise its own privileges`,
			"details": {"rule": 0, "verb": "escalate", "resources": ["roles"], "case": "escalating_verb", "path": "rules[0].verbs"},
		},
	}
	u := judge(role("ClusterRole", [{"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}]))
	{x.details.verb | some x in u} == {"impersonate"}
}

test_rule_index_counts_malformed_rules if {
	v := judge(role("Role", ["junk", {"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]))
	{x.details.rule | some x in v} == {1}
}

test_wildcard_subresources_are_not_wildcards if {
	count(judge(role("Role", [{"apiGroups": ["apps"], "resources": ["deployments/*"], "verbs": ["get"]}]))) == 0
}

test_cluster_admin_to_service_account_is_reported if {
	sa := {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}
	v := judge(binding("ClusterRoleBinding", cluster_admin, [sa, {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]))
	v == {{
		"msg": `binds cluster-admin to ServiceAccount "ci/deployer"`,
		"details": {"roleRef": "cluster-admin", "subject": sa, "case": "cluster_admin", "path": "roleRef.name"},
	}}
}

test_role_binding_service_account_defaults_to_binding_namespace if {
	sa := {"kind": "ServiceAccount", "name": "deployer"}
	v := judge(binding("RoleBinding", cluster_admin, [sa]))
	{x.msg | some x in v} == {`binds cluster-admin to ServiceAccount "shop/deployer"`}
}

test_other_roles_for_service_accounts_pass if {
	sa := {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}
	count(judge(binding("ClusterRoleBinding", {"kind": "ClusterRole", "name": "view"}, [sa]))) == 0
	count(judge(binding("RoleBinding", {"kind": "Role", "name": "cluster-admin"}, [sa]))) == 0
}

test_unauthenticated_subjects_are_reported if {
	anon := {"kind": "User", "name": "system:anonymous", "apiGroup": "rbac.authorization.k8s.io"}
	unauth := {"kind": "Group", "name": "system:unauthenticated", "apiGroup": "rbac.authorization.k8s.io"}
	v := judge(binding("ClusterRoleBinding", {"kind": "ClusterRole", "name": "view"}, [anon, unauth]))
	view := {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
	v == {
		{
			"msg": "grants ClusterRole view to User system:anonymous: every unauthenticated request gets it",
			"details": {"roleRef": view, "subject": anon, "case": "unauthenticated", "path": "subjects[0]"},
		},
		{
			"msg": "grants ClusterRole view to Group system:unauthenticated: every unauthenticated request gets it",
			"details": {"roleRef": view, "subject": unauth, "case": "unauthenticated", "path": "subjects[1]"},
		},
	}
}

test_authenticated_group_and_service_account_named_anonymous_pass if {
	subjects := [
		{"kind": "Group", "name": "system:authenticated"},
		{"kind": "ServiceAccount", "name": "system:anonymous", "namespace": "shop"},
	]
	count(judge(binding("RoleBinding", {"kind": "Role", "name": "reader"}, subjects))) == 0
}

test_malformed_rbac_does_not_error if {
	count(judge(role("ClusterRole", "all"))) == 0
	count(judge(role("ClusterRole", [{"verbs": "*", "resources": 5}]))) == 0
	count(judge(binding("ClusterRoleBinding", cluster_admin, {"kind": "ServiceAccount"}))) == 0
	count(judge(binding("ClusterRoleBinding", cluster_admin, [{"kind": "ServiceAccount", "name": 5}, "x"]))) == 0
	anon := {"kind": "User", "name": "system:anonymous"}
	count(judge(object.union(binding("ClusterRoleBinding", cluster_admin, [anon]), {"roleRef": "cluster-admin"}))) == 0
}
