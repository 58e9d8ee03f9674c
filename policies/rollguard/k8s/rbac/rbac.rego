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
#   round). High: every case it reports lets the holder, or a compromised pod of
#   the release, act beyond its own resources: wildcard grants, verbs that raise
#   privileges, cluster-admin for a ServiceAccount and access for
#   unauthenticated users.
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
#   case_remediation:
#     wildcard: >-
#       List the exact {{ field }} that rules[{{ rule }}] needs instead of "*"
#       (e.g. apiGroups [""], resources [configmaps], verbs [get, list, watch]).
#     escalating_verb: >-
#       Drop the {{ verb }} verb from rules[{{ rule }}]; grant the holder the
#       roles it needs directly instead of the power to grant them itself.
#     cluster_admin: >-
#       Bind a purpose-built Role (or ClusterRole) listing only the resources
#       and verbs the ServiceAccount needs instead of cluster-admin.
#     unauthenticated: >-
#       Remove the system:anonymous and system:unauthenticated subjects from the
#       binding and grant the role to the identities that need it.
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

violation contains {"msg": msg, "details": d} if {
	some i, rule in rules
	some field in ["apiGroups", "resources", "verbs"]
	is_array(rule[field])
	"*" in rule[field]
	d := {"rule": i, "field": field, "value": "*", "case": "wildcard", "path": sprintf("rules[%d].%s", [i, field])}
	msg := sprintf("rules[%d] grants \"*\" in %s", [i, field])
}

violation contains {"msg": msg, "details": d} if {
	some i, rule in rules
	is_array(rule.verbs)
	some verb in rule.verbs
	escalating_verbs[verb]
	resources := object.get(rule, "resources", [])
	d := {
		"rule": i,
		"verb": verb,
		"resources": resources,
		"case": "escalating_verb",
		"path": sprintf("rules[%d].verbs", [i]),
	}
	msg := sprintf("rules[%d] grants the %q verb, which lets the holder raise its own privileges", [i, verb])
}

violation contains {"msg": msg, "details": d} if {
	binding_kinds[k8s.kind]
	k8s.obj.roleRef.kind == "ClusterRole"
	k8s.obj.roleRef.name == "cluster-admin"
	some s in subjects
	s.kind == "ServiceAccount"
	is_string(s.name)
	d := {"roleRef": "cluster-admin", "subject": s, "case": "cluster_admin", "path": "roleRef.name"}
	msg := sprintf("binds cluster-admin to ServiceAccount %q", [service_account(s)])
}

violation contains {"msg": msg, "details": d} if {
	binding_kinds[k8s.kind]
	some j, s in subjects
	s.kind in {"User", "Group"}
	unauthenticated[s.name]
	role_ref := k8s.obj.roleRef
	is_object(role_ref)
	d := {"roleRef": role_ref, "subject": s, "case": "unauthenticated", "path": sprintf("subjects[%d]", [j])}
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

# Subjects by their index in the manifest.
subjects := {j: s |
	is_array(k8s.obj.subjects)
	some j, s in k8s.obj.subjects
	is_object(s)
}

# "namespace/name"; a RoleBinding's subject defaults to the binding's namespace.
service_account(s) := concat("/", [s.namespace, s.name]) if {
	is_string(s.namespace)
	s.namespace != ""
} else := concat("/", [k8s.namespace, s.name]) if {
	k8s.kind == "RoleBinding"
} else := s.name
