# METADATA
# title: Pods carry a version label
# description: >-
#   During a rollout old and new pods run side by side. Only a version label on
#   the pods (app.kubernetes.io/version by default) lets dashboards, alerts,
#   logs and traces tell the two apart, so that a canary or a bad release can be
#   spotted and compared while it rolls out. The label must be present with a
#   non-empty value on the pod template (or on a bare Pod). Covers Pods,
#   Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
#   Jobs, CronJobs, Argo Rollouts and DeploymentConfigs.
# scope: package
# custom:
#   id: k8s.version_label
#   severity: low
#   controls: ["SOC2:CC7.2", "ISO27001:A.8.9", "NIST-800-53:CM-8"]
#   remediation: >-
#     Add the label (app.kubernetes.io/version by default) to
#     spec.template.metadata.labels with the released version, for example the
#     image tag; do not add it to spec.selector, which is immutable.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       label:
#         type: string
#         default: app.kubernetes.io/version
#         description: Name of the pod label that carries the version.
#   example_allowed: |
#     template:
#       metadata:
#         labels:
#           app.kubernetes.io/name: web
#           app.kubernetes.io/version: "1.4.2"
#   example_disallowed: |
#     template:
#       metadata:
#         labels:
#           app.kubernetes.io/name: web
package rollguard.k8s.version_label

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": {"label": label}} if {
	k8s.kind in k8s.workload_kinds
	not has_label
	not has_empty_label
	msg := sprintf("%s has no %q label", [subject, label])
}

violation contains {"msg": msg, "details": {"label": label}} if {
	k8s.kind in k8s.workload_kinds
	has_empty_label
	msg := sprintf("%s label %q is empty", [subject, label])
}

label := l if {
	l := input.parameters.label
	is_string(l)
	l != ""
} else := "app.kubernetes.io/version"

has_label if {
	value := k8s.obj_pod_labels[label]
	not value in {null, ""}
}

# Present without a value (`version: ""`, or `version:` which YAML reads as null).
has_empty_label if k8s.obj_pod_labels[label] in {null, ""}

subject := "pod" if k8s.kind == "Pod" else := "pod template"
