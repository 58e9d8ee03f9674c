# METADATA
# title: Only approved identities deploy to high-risk namespaces
# description: >-
#   A rollout to production is a change to the system customers use, and who
#   may make it is a separation-of-duties decision, not whatever RBAC happens
#   to allow. In a high-risk namespace only the users in allowed_users, or
#   members of a group in allowed_groups, may create or update workloads
#   (input.review.operation CREATE or UPDATE, judged on input.review.userInfo).
#   A namespace is high risk when its Namespace object (from the change or the
#   cluster) carries the label rollguard.io/risk=high, or a
#   rollguard.io/environment label whose value is in high_risk_environments, or
#   when its name matches a pattern of high_risk_namespaces. With both allowed
#   lists empty (the default) nothing is restricted. Requests for a subresource
#   (status, scale) and requests from the control plane
#   (system:kube-controller-manager, the kube-system service accounts and the
#   nodes, which create ReplicaSets, Jobs and Pods for workloads already
#   admitted) are not judged; other controllers that create workloads, such as
#   Argo Rollouts, need an entry in allowed_users. The command line judges files
#   as user rollguard-cli. Covers Deployments, StatefulSets, DaemonSets,
#   ReplicaSets, Jobs, CronJobs and bare Pods. High: a deploy to a high-risk
#   namespace by an identity outside the approved ones bypasses separation of
#   duties, and nothing is restricted until allowed_users or allowed_groups is
#   configured.
# scope: package
# custom:
#   id: k8s.deploy_permissions
#   severity: high
#   controls: ["SOC2:CC6.1", "SOC2:CC8.1", "ISO27001:A.8.2", "ISO27001:A.8.32", "NIST-800-53:AC-3", "NIST-800-53:CM-5", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Deploy to namespace {{ namespace }} through the approved path (the release
#     pipeline or GitOps controller whose identity is in allowed_users or
#     allowed_groups). If the requester should be allowed, add the user to
#     allowed_users or one of its groups to allowed_groups; if {{ namespace }}
#     is not high risk ({{ reason }}), correct its rollguard.io/risk or
#     rollguard.io/environment label or high_risk_namespaces.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Namespace]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       allowed_users:
#         type: array
#         items: {type: string}
#         default: []
#         description: >-
#           Usernames that may create or update workloads in high-risk
#           namespaces, e.g. "system:serviceaccount:argocd:argocd-application-controller".
#       allowed_groups:
#         type: array
#         items: {type: string}
#         default: []
#         description: >-
#           Groups whose members may create or update workloads in high-risk
#           namespaces; with allowed_users also empty nothing is restricted.
#       high_risk_namespaces:
#         type: array
#         items:
#           type: string
#           pattern: '^([a-z0-9*?-]|\{[a-z0-9*?-]*(,[a-z0-9*?-]*)+\})+$'
#         default: []
#         description: >-
#           Namespace names or glob patterns that are high risk whatever their
#           labels: "*" matches any run of characters, "?" one character and
#           "{eu,us}" either alternative, e.g. "prod-*".
#       high_risk_environments:
#         type: array
#         items: {type: string}
#         default: ["prod", "production"]
#         description: Values of the namespace label rollguard.io/environment that make it high risk.
#   example_allowed: |
#     # allowed_groups: ["release-managers"]
#     # requested by user "deploy-bot", groups ["release-managers"], in:
#     kind: Namespace
#     metadata:
#       name: payments
#       labels:
#         rollguard.io/risk: high
#   example_disallowed: |
#     # allowed_groups: ["release-managers"]
#     # requested by user "alice", groups ["developers"], in:
#     kind: Namespace
#     metadata:
#       name: payments
#       labels:
#         rollguard.io/risk: high
package rollguard.k8s.deploy_permissions

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": details} if {
	restricted
	k8s.kind in deploy_kinds
	operation in {"CREATE", "UPDATE"}
	not subresource
	not control_plane
	not allowed
	count(risk_reasons) > 0
	reason := concat(", ", sort(risk_reasons))
	details := {
		"user": username,
		"groups": groups,
		"operation": operation,
		"namespace": k8s.namespace,
		"reason": reason,
		# The namespace makes the deploy a restricted one; when the manifest names none, the
		# line of its metadata.
		"path": "metadata.namespace",
	}
	msg := sprintf(
		"%s may not %s %s: namespace %q is high risk (%s) and only allowed_users or allowed_groups may deploy there",
		[requester, operation, k8s.display, k8s.namespace, reason],
	)
}

deploy_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}

risk_label := "rollguard.io/risk"

environment_label := "rollguard.io/environment"

# Without any allowed identity configured the policy has nothing to enforce.
restricted if count(allowed_users) + count(allowed_groups) > 0

allowed if username in allowed_users

allowed if {
	some g in groups
	g in allowed_groups
}

operation := input.review.operation if is_string(input.review.operation)

# status, scale and other subresources are written by controllers, not by a deployment.
subresource if {
	is_string(input.review.subResource)
	input.review.subResource != ""
}

# The control plane creates ReplicaSets, Jobs and Pods for owners that were already
# admitted; judging it would block every rollout the allowed identities start.
control_plane if username == "system:kube-controller-manager"

control_plane if {
	some g in groups
	g in {"system:serviceaccounts:kube-system", "system:nodes"}
}

username := input.review.userInfo.username if {
	is_string(input.review.userInfo.username)
} else := ""

groups := [g | some g in input.review.userInfo.groups; is_string(g)] if {
	is_array(input.review.userInfo.groups)
} else := []

requester := sprintf("user %q", [username]) if username != "" else := "an unidentified user"

# Why the namespace is high risk; empty when it is not.
risk_reasons contains sprintf("label %s is %q", [risk_label, value]) if {
	value := namespace_labels[risk_label]
	value == "high"
}

risk_reasons contains sprintf("label %s is %q", [environment_label, value]) if {
	value := namespace_labels[environment_label]
	value in high_risk_environments
}

risk_reasons contains sprintf("name matches %q in high_risk_namespaces", [pattern]) if {
	some pattern in high_risk_namespaces
	name_matches(pattern, k8s.namespace)
}

namespace_labels := labels if {
	labels := data.inventory.cluster["v1"].Namespace[k8s.namespace].metadata.labels
	is_object(labels)
} else := {}

name_matches(pattern, ns) if pattern == ns

# Only patterns of the schema's syntax reach glob.match: a malformed glob is a builtin
# error, and OPA and regorus disagree on character classes.
name_matches(pattern, ns) if {
	regex.match(`^([a-z0-9*?-]|\{[a-z0-9*?-]*(,[a-z0-9*?-]*)+\})+$`, pattern)
	glob.match(pattern, null, ns)
}

# Malformed parameters fall back to the defaults.
allowed_users := [u | some u in input.parameters.allowed_users; is_string(u)] if {
	is_array(input.parameters.allowed_users)
} else := []

allowed_groups := [g | some g in input.parameters.allowed_groups; is_string(g)] if {
	is_array(input.parameters.allowed_groups)
} else := []

high_risk_namespaces := [p | some p in input.parameters.high_risk_namespaces; is_string(p)] if {
	is_array(input.parameters.high_risk_namespaces)
} else := []

high_risk_environments := [e | some e in input.parameters.high_risk_environments; is_string(e)] if {
	is_array(input.parameters.high_risk_environments)
} else := ["prod", "production"]
