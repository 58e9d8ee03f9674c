package rollguard.k8s.version_label_test

import data.rollguard.k8s.version_label
import data.rollguard.lib.testing

workload(kind, labels) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/version": "1.0.0"}},
	"spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

deployment(labels) := workload("Deployment", labels)

default_labels := ["app.kubernetes.io/version", "version", "tags.datadoghq.com/version"]

parameters := {"labels": default_labels}

with_labels(inp, names) := object.union(inp, {"parameters": {"labels": names}})

test_missing_label_is_reported if {
	# A label on the Deployment itself does not reach the pods; an instance label names no version.
	v := version_label.violation with input as testing.review(deployment({"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod"}), parameters)
	v == {{
		"msg": `pod template has none of the version labels "app.kubernetes.io/version", "version", "tags.datadoghq.com/version"`,
		"details": {"labels": default_labels, "case": "missing", "path": "spec.template.metadata.labels"},
	}}
}

test_any_label_of_the_list_passes if {
	every labels in [
		{"app.kubernetes.io/version": "2.4.1"},
		{"app": "reviews", "version": "v2"},
		{"tags.datadoghq.com/version": "2024.06.1"},
		{"version": "", "app.kubernetes.io/version": "2.4.1"},
	] {
		count(version_label.violation) == 0 with input as testing.review(deployment(labels), parameters)
	}
}

test_every_rolled_kind_is_judged if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig"] {
		v := version_label.violation with input as testing.review(workload(kind, {"app": "web"}), parameters)
		{x.details | some x in v} == {{"labels": default_labels, "case": "missing", "path": "spec.template.metadata.labels"}}
	}
}

test_empty_label_is_reported if {
	every value in ["", null] {
		v := version_label.violation with input as testing.review(deployment({"app.kubernetes.io/version": value}), parameters)
		v == {{
			"msg": `pod template label "app.kubernetes.io/version" is empty`,
			"details": {
				"labels": default_labels,
				"empty": ["app.kubernetes.io/version"],
				"case": "empty",
				"path": `spec.template.metadata.labels["app.kubernetes.io/version"]`,
			},
		}}
	}

	w := version_label.violation with input as testing.review(deployment({"version": "", "app.kubernetes.io/version": null}), parameters)
	w == {{
		"msg": `pod template labels "app.kubernetes.io/version", "version" are empty`,
		"details": {
			"labels": default_labels,
			"empty": ["app.kubernetes.io/version", "version"],
			"case": "empty",
			"path": `spec.template.metadata.labels["app.kubernetes.io/version"]`,
		},
	}}
}

test_objects_that_are_not_rolled_are_not_judged if {
	pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "one"}, "spec": {"containers": []}}
	count(version_label.violation) == 0 with input as testing.review(pod, parameters)

	cron := {"kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {}}}}}}}
	count(version_label.violation) == 0 with input as testing.review(cron, parameters)

	every kind in ["Job", "ReplicaSet", "ReplicationController"] {
		count(version_label.violation) == 0 with input as testing.review(workload(kind, {"app": "web"}), parameters)
	}
}

test_labels_parameter if {
	inp := with_labels(testing.review(deployment({"app.kubernetes.io/version": "2.4.1"}), parameters), ["app.example.com/release"])
	v := version_label.violation with input as inp
	v == {{
		"msg": `pod template has no "app.example.com/release" label`,
		"details": {"labels": ["app.example.com/release"], "case": "missing", "path": "spec.template.metadata.labels"},
	}}

	count(version_label.violation) == 0 with input as with_labels(testing.review(deployment({"app.example.com/release": "r7"}), parameters), ["app.example.com/release"])
}

test_malformed_labels_parameter_falls_back_to_the_default_list if {
	every names in ["version", [], [3, ""], null] {
		v := version_label.violation with input as with_labels(testing.review(deployment({"app": "web"}), parameters), names)
		{x.details.labels | some x in v} == {default_labels}
	}
}

test_missing_template_metadata_and_other_kinds if {
	bare := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {}}}}
	v := version_label.violation with input as testing.review(bare, parameters)
	{x.details | some x in v} == {{"labels": default_labels, "case": "missing", "path": "spec.template.metadata.labels"}}
	malformed := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"metadata": {"labels": "v1"}}}}
	w := version_label.violation with input as testing.review(malformed, parameters)
	{x.details | some x in w} == {{"labels": default_labels, "case": "missing", "path": "spec.template.metadata.labels"}}
	service := {"kind": "Service", "metadata": {"name": "web"}, "spec": {}}
	count(version_label.violation) == 0 with input as testing.review(service, parameters)
}

test_malformed_labels_parameter_accepts_a_default_label if {
	every names in ["version", [], [3, ""], null, {"release": "app.example.com/release"}] {
		count(version_label.violation) == 0 with input as with_labels(testing.review(deployment({"version": "v2"}), parameters), names)
	}

	# The values of an object are no list of labels.
	inp := with_labels(testing.review(deployment({"app.example.com/release": "r7"}), parameters), {"release": "app.example.com/release"})
	v := version_label.violation with input as inp
	{x.details | some x in v} == {{"labels": default_labels, "case": "missing", "path": "spec.template.metadata.labels"}}
}

test_empty_label_name_is_dropped if {
	# Even against a pod label whose key is empty.
	inp := with_labels(testing.review(deployment({"": "r7"}), parameters), ["", "app.example.com/release"])
	v := version_label.violation with input as inp
	{x.details | some x in v} == {{"labels": ["app.example.com/release"], "case": "missing", "path": "spec.template.metadata.labels"}}
}
