# METADATA
# title: Rolled pods carry a version label
# description: >-
#   During a rollout old and new pods run side by side. Only a version label on
#   the pods lets dashboards, alerts, logs and traces tell the two apart, so
#   that a canary or a bad release can be spotted and compared while it rolls
#   out. The pod template must carry one of the labels in `labels` with a
#   non-empty value. The default list holds the labels that carry the release
#   version by an established convention: app.kubernetes.io/version
#   (Kubernetes' recommended labels), version (Istio's, which its telemetry and
#   subset routing read, so pods that follow Istio's convention pass as they
#   are) and tags.datadoghq.com/version (Datadog's unified service tagging).
#   app.kubernetes.io/instance is not in it: it names an installation of an
#   application (a Helm release, say), which stays the same from one version to
#   the next; helm.sh/chart is not either, since a chart's version changes
#   independently of the application's. Judges only objects that are rolled
#   out, where old and new pods overlap: Deployments, StatefulSets, DaemonSets,
#   Argo Rollouts and DeploymentConfigs. Bare Pods, ReplicaSets,
#   ReplicationControllers, Jobs and CronJobs are left alone: they are replaced
#   or run to completion, never rolled, so there are no two versions side by
#   side to tell apart. Low severity: a missing label costs visibility during a
#   rollout, not availability.
# scope: package
# custom:
#   id: k8s.version_label
#   severity: low
#   controls: ["SOC2:CC7.2", "ISO27001:A.8.9", "NIST-800-53:CM-8"]
#   remediation: >-
#     Add one of the labels (app.kubernetes.io/version by default) to
#     spec.template.metadata.labels with the released version, for example the
#     image tag; do not add it to spec.selector, which is immutable.
#   case_remediation:
#     missing: >-
#       Add a version label to spec.template.metadata.labels, any one of
#       {{ labels }}, with the released version as its value, for example the
#       image tag; do not add it to spec.selector, which is immutable.
#     empty: >-
#       Put the released version, for example the image tag, in the empty pod
#       template label ({{ empty }}) under spec.template.metadata.labels; one of
#       {{ labels }} with a value is enough.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       labels:
#         type: array
#         items: {type: string, minLength: 1}
#         minItems: 1
#         default: ["app.kubernetes.io/version", "version", "tags.datadoghq.com/version"]
#         description: >-
#           Pod template labels that carry the version; any one of them with a
#           value is enough.
#   example_allowed: |
#     template:
#       metadata:
#         labels:
#           app: reviews
#           version: v2
#   example_disallowed: |
#     template:
#       metadata:
#         labels:
#           app.kubernetes.io/name: web
#           app.kubernetes.io/instance: web-prod
package rollguard.k8s.version_label

import data.rollguard.lib.k8s

# One clause whose first test clears nearly every template, so a compliant one pays for that
# test alone; which finding it is (no label, or only empty ones) is worked out after.
violation contains {"msg": msg, "details": details} if {
	not has_valued_label
	k8s.kind in k8s.rolling_kinds
	count(valued) == 0
	[msg, details] := finding
}

# None of the labels is on the pod template.
finding := [sprintf("pod template has %s", [none_text]), details] if {
	count(present) == 0
	details := {"labels": labels, "case": "missing", "path": labels_path}
}

# Some are, and every one of them is empty.
finding := [sprintf("pod template %s", [empty_text]), details] if {
	count(present) > 0
	details := {"labels": labels, "empty": present, "case": "empty", "path": label_path(present[0])}
}

# The pod template's labels, where a version label belongs (not the object's own metadata).
labels_path := sprintf("%s.labels", [k8s.obj_pod_metadata_path])

# Label keys hold dots and slashes but never quotes, so quoting the key is enough.
label_path(name) := sprintf(`%s["%s"]`, [labels_path, name])

labels := names if {
	is_array(input.parameters.labels)
	names := [l | some l in input.parameters.labels; is_string(l); l != ""]
	count(names) > 0
} else := ["app.kubernetes.io/version", "version", "tags.datadoghq.com/version"]

# The labels of the list the pod template sets, and those with a value; present without a
# value is `version: ""`, or `version:` which YAML reads as null.
present := [l | some l in labels; object.keys(k8s.obj_pod_labels)[l]]

valued := [l | some l in present; not k8s.obj_pod_labels[l] in {null, ""}]

# The quick test that clears nearly every template: a label of the `labels` parameter has a
# value. It reads the parameter as given, not filtered into `labels` first: a label key is a
# string, so only entries that `labels` keeps can match (bar "", checked on a match). When it
# fails (the parameter unset or with no usable entry, so `labels` is the default list) `valued`
# decides.
has_valued_label if {
	names := input.parameters.labels
	is_array(names)
	some l in names
	v := k8s.obj_pod_labels[l]
	l != ""
	not v in {null, ""}
}

quoted(names) := concat(", ", [sprintf("%q", [n]) | some n in names])

none_text := sprintf("no %q label", [labels[0]]) if {
	count(labels) == 1
} else := sprintf("none of the version labels %s", [quoted(labels)])

empty_text := sprintf("label %q is empty", [present[0]]) if {
	count(present) == 1
} else := sprintf("labels %s are empty", [quoted(present)])
