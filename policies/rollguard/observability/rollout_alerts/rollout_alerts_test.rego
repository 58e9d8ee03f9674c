package rollguard.observability.rollout_alerts_test

import data.rollguard.lib.testing
import data.rollguard.observability.rollout_alerts

labels := {"app.kubernetes.io/name": "checkout"}

deployment(ports) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": {
		"replicas": 3,
		"selector": {"matchLabels": labels},
		"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "checkout:2.1", "ports": ports}]}},
	},
}

serving := deployment([{"containerPort": 8080}])

service(name) := {
	"apiVersion": "v1",
	"kind": "Service",
	"metadata": {"name": name, "namespace": "shop"},
	"spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
}

rules(alerts) := {
	"apiVersion": "monitoring.coreos.com/v1",
	"kind": "PrometheusRule",
	"metadata": {"name": "checkout-alerts", "namespace": "monitoring"},
	"spec": {"groups": [{"name": "checkout", "rules": alerts}]},
}

errors_by_version := {
	"alert": "CheckoutErrorRate",
	"expr": `sum by (version) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum by (version) (rate(http_requests_total{job="checkout"}[5m])) > 0.05`,
}

errors_overall := {
	"alert": "CheckoutErrorRate",
	"expr": `sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="checkout"}[5m])) > 0.05`,
}

latency := {
	"alert": "CheckoutLatencyP99",
	"expr": `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="checkout"}[5m]))) > 0.5`,
}

labels_path := "spec.template.metadata.labels"

judge(workload, objects) := v if {
	v := rollout_alerts.violation with input as testing.create_review(workload, {}) with data.inventory as testing.inventory(array.concat([workload], objects))
}

judge_with(workload, objects, parameters) := v if {
	v := rollout_alerts.violation with input as testing.create_review(workload, parameters) with data.inventory as testing.inventory(array.concat([workload], objects))
}

cases(v) := {x.details.case | some x in v}

test_error_and_latency_alerts_split_by_version_pass if {
	count(judge(serving, [rules([errors_by_version, latency])])) == 0
}

test_workload_without_alerts_is_reported if {
	other := rules([json.patch(errors_by_version, [{"op": "replace", "path": "/expr", "value": `rate(http_requests_total{job="cart",code=~"5.."}[5m]) > 1`}])])
	judge(serving, [other]) == {{
		"msg": "serves traffic but no alert of the change's PrometheusRules selects it by one of its names (checkout): a bad rollout is noticed only when users report it",
		"details": {
			"name": "checkout",
			"names": "checkout",
			"workload_labels": "job, service, app, app_kubernetes_io_name, container, deployment, statefulset, daemonset, rollout, workload",
			"case": "no_alerts",
			"path": labels_path,
		},
	}}
}

test_missing_latency_alert_is_reported if {
	judge(serving, [rules([errors_by_version])]) == {{
		"msg": "has no latency alert among the alerts that select it (CheckoutErrorRate (PrometheusRule monitoring/checkout-alerts)): a rollout that degrades its latency goes unnoticed",
		"details": {
			"name": "checkout",
			"names": "checkout",
			"workload_labels": "job, service, app, app_kubernetes_io_name, container, deployment, statefulset, daemonset, rollout, workload",
			"missing": "latency",
			"alerts": "CheckoutErrorRate (PrometheusRule monitoring/checkout-alerts)",
			"case": "missing_signal",
			"path": labels_path,
		},
	}}
}

test_missing_error_rate_alert_is_reported if {
	v := judge(serving, [rules([latency])])
	{[x.details.case, x.details.missing] | some x in v} == {["missing_signal", "error-rate"]}
}

test_alerts_not_split_by_version_are_reported if {
	judge(serving, [rules([errors_overall, latency])]) == {{
		"msg": "has error-rate and latency alerts (CheckoutErrorRate (PrometheusRule monitoring/checkout-alerts), CheckoutLatencyP99 (PrometheusRule monitoring/checkout-alerts)) but none split by version (version, app_kubernetes_io_version, rollouts_pod_template_hash, pod_template_hash): a spike on the new pods is averaged with the old ones and may stay under the threshold",
		"details": {
			"alerts": "CheckoutErrorRate (PrometheusRule monitoring/checkout-alerts), CheckoutLatencyP99 (PrometheusRule monitoring/checkout-alerts)",
			"version_labels": "version, app_kubernetes_io_version, rollouts_pod_template_hash, pod_template_hash",
			"case": "not_split_by_version",
			"path": labels_path,
		},
	}}
}

test_a_version_matcher_counts_as_split if {
	canary_latency := object.union(latency, {"expr": `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="checkout",version="canary"}[5m]))) > 0.5`})
	count(judge(serving, [rules([errors_overall, canary_latency])])) == 0
}

test_split_by_pod_template_hash_counts if {
	hashed := object.union(errors_overall, {"expr": `sum by (rollouts_pod_template_hash) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) > 1`})
	count(judge(serving, [rules([hashed, latency])])) == 0
	count(judge_with(serving, [rules([hashed, latency])], {"version_labels": ["version"]})) == 1
}

# A version split on an alert that is about neither errors nor latency does not count.
test_split_on_an_unrelated_alert_does_not_count if {
	saturation := {"alert": "CheckoutCPUHigh", "expr": `sum by (version) (rate(container_cpu_usage_seconds_total{container="checkout"}[5m])) > 2`}
	cases(judge(serving, [rules([errors_overall, latency, saturation])])) == {"not_split_by_version"}
}

test_tied_through_the_service_name if {
	by_job := [
		object.union(errors_by_version, {"expr": `sum by (version) (rate(http_requests_total{job="checkout-web",code=~"5.."}[5m])) > 1`}),
		object.union(latency, {"expr": `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="checkout-web"}[5m]))) > 0.5`}),
	]
	count(judge(serving, [service("checkout-web"), rules(by_job)])) == 0
	cases(judge(serving, [rules(by_job)])) == {"no_alerts"}
}

test_tied_through_a_regex_matcher if {
	regex_errors := object.union(errors_by_version, {"expr": `sum by (version) (rate(http_requests_total{service=~"check.*",code=~"5.."}[5m])) > 1`})
	count(judge(serving, [rules([regex_errors, latency])])) == 0
	partial := object.union(errors_by_version, {"expr": `sum by (version) (rate(http_requests_total{service=~"check",code=~"5.."}[5m])) > 1`})
	cases(judge(serving, [rules([partial, latency])])) == {"missing_signal"}
}

test_tied_through_the_alert_labels if {
	labelled := {"alert": "HighErrorRate", "expr": `sum by (version) (rate(errors_total[5m])) > 1`, "labels": {"service": "checkout", "severity": "critical"}}
	count(judge(serving, [rules([labelled, latency])])) == 0
}

test_another_namespace_matcher_does_not_tie if {
	elsewhere := object.union(errors_by_version, {"expr": `sum by (version) (rate(http_requests_total{namespace="staging",job="checkout",code=~"5.."}[5m])) > 1`})
	cases(judge(serving, [rules([elsewhere, latency])])) == {"missing_signal"}
	here := object.union(errors_by_version, {"expr": `sum by (version) (rate(http_requests_total{namespace="shop",job="checkout",code=~"5.."}[5m])) > 1`})
	count(judge(serving, [rules([here, latency])])) == 0
}

test_single_quoted_matchers_are_read if {
	quoted := object.union(errors_by_version, {"expr": `sum by (version) (rate(http_requests_total{job='checkout',code=~'5..'}[5m])) > 1`})
	count(judge(serving, [rules([quoted, latency])])) == 0
}

test_change_without_prometheus_rules_is_not_judged if {
	count(judge(serving, [])) == 0
	cases(judge_with(serving, [], {"require_rules": true})) == {"no_alerts"}
}

test_workload_serving_only_through_a_service_is_judged if {
	portless := deployment([])
	cases(judge(portless, [service("checkout"), rules([])])) == {"no_alerts"}
}

test_workload_that_serves_nothing_is_not_judged if {
	worker := deployment([])
	count(judge(worker, [rules([])])) == 0
}

test_other_kinds_are_not_judged if {
	job := {
		"apiVersion": "batch/v1",
		"kind": "Job",
		"metadata": {"name": "checkout", "namespace": "shop"},
		"spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "checkout:2.1", "ports": [{"containerPort": 8080}]}]}}},
	}
	count(judge(job, [rules([])])) == 0
}

test_custom_patterns_classify_alerts if {
	apdex := {"alert": "CheckoutApdexLow", "expr": `sum by (version) (apdex_score{job="checkout"}) < 0.9`}
	cases(judge(serving, [rules([errors_by_version, apdex])])) == {"missing_signal"}
	count(judge_with(serving, [rules([errors_by_version, apdex])], {"latency_alert_pattern": "apdex"})) == 0
}

test_malformed_rules_are_skipped if {
	broken := {
		"apiVersion": "monitoring.coreos.com/v1",
		"kind": "PrometheusRule",
		"metadata": {"name": "broken", "namespace": "monitoring"},
		"spec": {"groups": [null, {"name": "g", "rules": "nope"}, {"name": "h", "rules": [7, {"alert": 3}, {"record": "a:b:c", "expr": "x"}]}]},
	}
	cases(judge(serving, [broken])) == {"no_alerts"}
}

test_workload_without_a_name_is_named_by_its_labels if {
	unnamed := json.remove(serving, ["metadata/name"])
	v := rollout_alerts.violation with input as testing.review_in("shop", unnamed, {}) with data.inventory as testing.inventory([rules([])])
	{[x.details.case, x.details.names] | some x in v} == {["no_alerts", "checkout"]}
}
