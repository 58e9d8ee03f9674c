# METADATA
# title: RBAC shipped with a release grants least privilege
# description: >-
#   Roles and bindings travel with the workloads they serve, so a deployment
#   change is where over-broad access usually sneaks in: a compromised pod of
#   the new release acts with whatever its ServiceAccount was granted. Reports,
#   in Roles and ClusterRoles, every rule with "*" in apiGroups, resources or
#   verbs and every escalate, bind or impersonate verb (they let the holder
#   grant itself more); in RoleBindings and ClusterRoleBindings, binding the
#   cluster-admin ClusterRole to a ServiceAccount, and any subject that is the
#   User system:anonymous or the Group system:unauthenticated (or the other way
#   round).
# scope: package
# custom:
#   id: k8s.rbac
#   severity: high
#   controls: ["NIST-800-53:AC-6", "ISO27001:A.8.2", "SOC2:CC6.3", "CIS-K8S:5.1.1", "CIS-K8S:5.1.3", "CIS-K8S:5.1.8", "NIST-800-53:CM-5"]
#   remediation: >-
#     List the exact apiGroups, resources and verbs the workload needs (e.g.
#     apiGroups [""], resources [configmaps], verbs [get, list, watch]); drop
#     escalate, bind and impersonate; bind a purpose-built Role instead of
#     cluster-admin; never bind system:anonymous or system:unauthenticated.
#   applies_to: [Role, ClusterRole, RoleBinding, ClusterRoleBinding]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     kind: Role
#     rules:
#     - apiGroups: [""]
#       resources: [configmaps]
#       verbs: [get, list, watch]
#   example_disallowed: |
#     kind: ClusterRole
#     rules:
#     - apiGroups: ["*"]
#       resources: ["*"]
#       verbs: ["*"]
package rollguard.k8s.rbac

import data.rollguard.lib.k8s

role_kinds := {"Role", "ClusterRole"}

binding_kinds := {"RoleBinding", "ClusterRoleBinding"}

escalating_verbs := {"escalate", "bind", "impersonate"}

unauthenticated := {"system:anonymous", "system:unauthenticated"}

violation contains {"msg": msg, "details": {"rule": i, "field": field, "value": "*"}} if {
	some i, rule in rules
	some field in ["apiGroups", "resources", "verbs"]
	is_array(rule[field])
	"*" in rule[field]
	msg := sprintf("rules[%d] grants \"*\" in %s", [i, field])
}

violation contains {"msg": msg, "details": {"rule": i, "verb": verb, "resources": resources}} if {
	some i, rule in rules
	is_array(rule.verbs)
	some verb in rule.verbs
	escalating_verbs[verb]
	resources := object.get(rule, "resources", [])
	msg := sprintf("rules[%d] grants the %q verb, which lets the holder raise its own privileges", [i, verb])
}

violation contains {"msg": msg, "details": {"roleRef": "cluster-admin", "subject": s}} if {
	binding_kinds[k8s.kind]
	k8s.obj.roleRef.kind == "ClusterRole"
	k8s.obj.roleRef.name == "cluster-admin"
	some s in subjects
	s.kind == "ServiceAccount"
	is_string(s.name)
	msg := sprintf("binds cluster-admin to ServiceAccount %q", [service_account(s)])
}

violation contains {"msg": msg, "details": {"roleRef": role_ref, "subject": s}} if {
	binding_kinds[k8s.kind]
	some s in subjects
	s.kind in {"User", "Group"}
	unauthenticated[s.name]
	role_ref := k8s.obj.roleRef
	is_object(role_ref)
	msg := sprintf("grants %v %v to %s %s: every unauthenticated request gets it", [
		object.get(role_ref, "kind", "role"), object.get(role_ref, "name", ""), s.kind, s.name,
	])
}

# Rules by their index in the manifest.
rules := {i: r |
	role_kinds[k8s.kind]
	is_array(k8s.obj.rules)
	some i, r in k8s.obj.rules
	is_object(r)
}

subjects := [s |
	is_array(k8s.obj.subjects)
	some s in k8s.obj.subjects
	is_object(s)
]

# "namespace/name"; a RoleBinding's subject defaults to the binding's namespace.
service_account(s) := concat("/", [s.namespace, s.name]) if {
	is_string(s.namespace)
	s.namespace != ""
} else := concat("/", [k8s.namespace, s.name]) if {
	k8s.kind == "RoleBinding"
} else := s.name
