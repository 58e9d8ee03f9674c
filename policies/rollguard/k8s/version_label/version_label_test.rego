package rollguard.k8s.version_label_test

import data.rollguard.k8s.version_label
import data.rollguard.lib.testing

deployment(labels) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/version": "1.0.0"}},
	"spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

parameters := {"label": "app.kubernetes.io/version"}

test_missing_label_is_reported if {
	# A label on the Deployment itself does not reach the pods.
	v := version_label.violation with input as testing.review(deployment({"app.kubernetes.io/name": "web"}), parameters)
	v == {{
		"msg": `pod template has no "app.kubernetes.io/version" label`,
		"details": {"label": "app.kubernetes.io/version"},
	}}
}

test_labelled_template_passes if {
	count(version_label.violation) == 0 with input as testing.review(deployment({"app.kubernetes.io/version": "2.4.1"}), parameters)
}

test_empty_label_is_reported if {
	every value in ["", null] {
		v := version_label.violation with input as testing.review(deployment({"app.kubernetes.io/version": value}), parameters)
		v == {{
			"msg": `pod template label "app.kubernetes.io/version" is empty`,
			"details": {"label": "app.kubernetes.io/version"},
		}}
	}
}

test_bare_pod_and_cronjob_are_judged if {
	pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "one"}, "spec": {"containers": []}}
	v := version_label.violation with input as testing.review(pod, parameters)
	{x.msg | some x in v} == {`pod has no "app.kubernetes.io/version" label`}

	labelled := object.union(pod, {"metadata": {"labels": {"app.kubernetes.io/version": "3"}}})
	count(version_label.violation) == 0 with input as testing.review(labelled, parameters)

	cron := {"kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/version": "7"}}}}}}}
	count(version_label.violation) == 0 with input as testing.review(cron, parameters)
}

test_label_parameter if {
	inp := object.union(testing.review(deployment({"app.kubernetes.io/version": "2.4.1"}), parameters), {"parameters": {"label": "version"}})
	v := version_label.violation with input as inp
	v == {{"msg": `pod template has no "version" label`, "details": {"label": "version"}}}
}

test_missing_template_metadata_and_other_kinds if {
	bare := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {}}}}
	count(version_label.violation) == 1 with input as testing.review(bare, parameters)
	malformed := {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"metadata": {"labels": "v1"}}}}
	count(version_label.violation) == 1 with input as testing.review(malformed, parameters)
	service := {"kind": "Service", "metadata": {"name": "web"}, "spec": {}}
	count(version_label.violation) == 0 with input as testing.review(service, parameters)
}
