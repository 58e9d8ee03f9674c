# METADATA
# title: Rollouts have a bounded progress deadline
# description: >-
#   progressDeadlineSeconds is how long a rollout may make no progress before
#   the controller marks it failed (condition Progressing=False,
#   ProgressDeadlineExceeded), which is what `kubectl rollout status`, Argo CD,
#   Helm --wait and pipelines wait for. Above max_seconds a stuck rollout looks
#   like a slow one for too long. Judges the effective deadline: the field when
#   it is set, else the default that applies to it, which is 600 seconds for an
#   apps/v1 (and apps/v1beta2) Deployment by the API server's defaulting and 600
#   seconds for an Argo Rollout by the controller's own default. An unset field
#   is therefore not reported by itself: with the default max_seconds of 900 the
#   default is within bounds, and the webhook sees the API server's 600 filled
#   in anyway. Reported: a deadline, set or defaulted, above max_seconds; a
#   value that is not a number; and an unset deadline on extensions/v1beta1 or
#   apps/v1beta1, which default it to no deadline at all. Covers Deployments and
#   Argo Rollouts. Medium severity: a late failure report delays rollback and
#   paging, it does not break the running version.
# scope: package
# custom:
#   id: k8s.progress_deadline
#   severity: medium
#   controls: ["SOC2:CC8.1", "SOC2:CC7.2", "ISO27001:A.8.32", "NIST-800-53:CM-3", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Set spec.progressDeadlineSeconds to a value no higher than max_seconds
#     (900 by default) that covers a normal rollout of the workload, for example
#     600; on an old apiVersion, move to apps/v1, whose default is 600.
#   case_remediation:
#     above_maximum: >-
#       Lower spec.progressDeadlineSeconds from {{ progress_deadline_seconds }}
#       to at most {{ max_seconds }}, still long enough for a normal rollout of
#       the workload.
#     default_above_maximum: >-
#       Set spec.progressDeadlineSeconds to at most {{ max_seconds }}, long
#       enough for a normal rollout of the workload: left unset, it gets the
#       {{ default_from }} default of {{ default_seconds }}.
#     no_deadline: >-
#       Set spec.progressDeadlineSeconds to at most {{ max_seconds }}, long
#       enough for a normal rollout of the workload (for example 600, if within
#       the limit), since {{ api_version }} gives an unset field no deadline at
#       all; or move the Deployment to apps/v1, whose default of 600 seconds
#       passes when max_seconds is 600 or more.
#     not_a_number: >-
#       Write spec.progressDeadlineSeconds as a plain integer number of seconds
#       (no quotes, no unit), at most {{ max_seconds }}, for example 600 when
#       that is within the limit.
#   applies_to: [Deployment, Rollout]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       max_seconds:
#         type: integer
#         minimum: 1
#         default: 900
#         description: Longest progressDeadlineSeconds accepted, set or defaulted.
#   example_allowed: |
#     apiVersion: apps/v1
#     kind: Deployment
#     spec:
#       progressDeadlineSeconds: 600
#   example_disallowed: |
#     apiVersion: apps/v1
#     kind: Deployment
#     spec:
#       progressDeadlineSeconds: 7200
package rollguard.k8s.progress_deadline

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": details} if {
	deadline := k8s.obj.spec.progressDeadlineSeconds
	is_number(deadline)
	deadline > max_seconds
	details := {"progress_deadline_seconds": deadline, "max_seconds": max_seconds, "case": "above_maximum", "path": deadline_path}
	msg := sprintf(
		"progressDeadlineSeconds is %v, above the maximum of %v: a stuck rollout is reported as failed only that late",
		[deadline, max_seconds],
	)
}

violation contains {"msg": msg, "details": details} if {
	not has_deadline
	seconds := default_seconds
	seconds > max_seconds
	details := {
		"progress_deadline_seconds": null,
		"default_seconds": seconds,
		"default_from": default_source,
		"max_seconds": max_seconds,
		"case": "default_above_maximum",
		"path": deadline_path,
	}
	msg := sprintf(
		"progressDeadlineSeconds is not set, so the %s default of %v applies, above the maximum of %v: a stuck rollout is reported as failed only that late",
		[default_source, seconds, max_seconds],
	)
}

violation contains {"msg": msg, "details": details} if {
	not has_deadline
	k8s.kind == "Deployment"
	no_deadline_version
	api_version := k8s.obj.apiVersion
	details := {
		"progress_deadline_seconds": null,
		"api_version": api_version,
		"max_seconds": max_seconds,
		"case": "no_deadline",
		"path": deadline_path,
	}
	msg := sprintf(
		"progressDeadlineSeconds is not set, and %s defaults it to no deadline at all: a stuck rollout is never reported as failed",
		[api_version],
	)
}

violation contains {"msg": msg, "details": details} if {
	deadline := k8s.obj.spec.progressDeadlineSeconds
	deadline != null
	not is_number(deadline)
	details := {"progress_deadline_seconds": deadline, "max_seconds": max_seconds, "case": "not_a_number", "path": deadline_path}
	msg := sprintf("progressDeadlineSeconds %s is not a number of seconds", [json.marshal(deadline)])
}

has_deadline if k8s.obj.spec.progressDeadlineSeconds != null

# Where every finding points: the field, or the spec it belongs in when it is unset.
deadline_path := "spec.progressDeadlineSeconds"

# Deployment API versions whose defaulting left the deadline unset (the controller read that
# as "no deadline"); apps/v1beta2 and apps/v1 default it to 600.
no_deadline_version if k8s.obj.apiVersion in {"extensions/v1beta1", "apps/v1beta1"}

# The deadline an unset field gets, and who sets it: the API server for Deployments, the
# controller (its DefaultProgressDeadlineSeconds) for Argo Rollouts.
default_seconds := 600 if {
	k8s.kind == "Deployment"
	not no_deadline_version
} else := 600 if {
	k8s.kind == "Rollout"
}

default_source := "Deployment API" if {
	k8s.kind == "Deployment"
} else := "Argo Rollouts controller"

max_seconds := n if {
	n := input.parameters.max_seconds
	is_number(n)
} else := 900
