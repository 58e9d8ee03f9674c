package rollguard.observability.rule_sanity_test

import data.rollguard.lib.testing
import data.rollguard.observability.rule_sanity

good_alert := {
	"alert": "CheckoutHighErrorRate",
	"expr": `sum by (version) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) > 1`,
	"for": "5m",
	"labels": {"severity": "critical"},
	"annotations": {"runbook_url": "https://runbooks.example.com/checkout/errors"},
}

rule_object(rules) := {
	"apiVersion": "monitoring.coreos.com/v1",
	"kind": "PrometheusRule",
	"metadata": {"name": "checkout", "namespace": "monitoring"},
	"spec": {"groups": [{"name": "checkout", "rules": rules}]},
}

judge(rules) := judge_with(rules, {})

judge_with(rules, parameters) := v if {
	v := rule_sanity.violation with input as testing.review(rule_object(rules), parameters)
}

alert(patch) := object.union(good_alert, patch)

without(field) := json.remove(good_alert, [field])

test_complete_alert_and_recording_rule_pass if {
	count(judge([good_alert, {"record": "job:http_requests_total:rate5m", "expr": "sum by (job) (rate(http_requests_total[5m]))"}])) == 0
}

test_alert_without_for_is_reported if {
	judge([without("for")]) == {{
		"msg": "alert CheckoutHighErrorRate (group checkout) has no `for:` duration: it fires on the first evaluation over its threshold, so one slow scrape or one restarting pod pages someone",
		"details": {"alert": "CheckoutHighErrorRate", "group": "checkout", "case": "no_for", "min_for_seconds": 60, "path": "spec.groups[0].rules[0]"},
	}}
}

test_zero_for_is_no_for if {
	{v.details.case | some v in judge([alert({"for": "0s"})])} == {"no_for"}
	{v.details.case | some v in judge([alert({"for": "0m0s"})])} == {"no_for"}
}

test_short_for_is_reported if {
	judge([alert({"for": "30s"})]) == {{
		"msg": "alert CheckoutHighErrorRate (group checkout) waits only 30s before firing, less than 60s: a short blip pages someone",
		"details": {"alert": "CheckoutHighErrorRate", "group": "checkout", "case": "short_for", "for": "30s", "min_for_seconds": 60, "path": "spec.groups[0].rules[0].for"},
	}}
}

test_compound_durations_are_added_up if {
	count(judge([alert({"for": "1h30m"})])) == 0
	count(judge_with([alert({"for": "1m30s"})], {"min_for_seconds": 90})) == 0
	{v.details.case | some v in judge_with([alert({"for": "1m29s"})], {"min_for_seconds": 90})} == {"short_for"}
	count(judge_with([alert({"for": "30s"})], {"min_for_seconds": 0})) == 0
}

test_invalid_for_is_reported if {
	judge([alert({"for": "five minutes"})]) == {{
		"msg": "alert CheckoutHighErrorRate (group checkout) has `for: five minutes`, which is not a Prometheus duration: Prometheus rejects the rule group",
		"details": {"alert": "CheckoutHighErrorRate", "group": "checkout", "case": "invalid_for", "for": "five minutes", "min_for_seconds": 60, "path": "spec.groups[0].rules[0].for"},
	}}
}

test_alert_without_severity_is_reported if {
	judge([without("labels")]) == {{
		"msg": "alert CheckoutHighErrorRate (group checkout) has no severity label: Alertmanager routes on it, so the alert goes to the fallback route or nowhere",
		"details": {"alert": "CheckoutHighErrorRate", "group": "checkout", "case": "no_severity", "severities": "critical, warning, info, none", "path": "spec.groups[0].rules[0]"},
	}}
	{v.details.case | some v in judge([alert({"labels": {"severity": ""}})])} == {"no_severity"}
}

test_unknown_severity_is_reported if {
	judge([alert({"labels": {"severity": "page"}})]) == {{
		"msg": `alert CheckoutHighErrorRate (group checkout) has severity "page", none of critical, warning, info, none: no Alertmanager route expects it`,
		"details": {"alert": "CheckoutHighErrorRate", "group": "checkout", "case": "unknown_severity", "severity": "page", "severities": "critical, warning, info, none", "path": "spec.groups[0].rules[0].labels.severity"},
	}}
	count(judge_with([alert({"labels": {"severity": "page"}})], {"severities": []})) == 0
	count(judge_with([alert({"labels": {"severity": "page"}})], {"severities": ["page", "ticket"]})) == 0
}

test_alert_without_runbook_is_reported if {
	judge([alert({"annotations": {"summary": "errors", "runbook_url": " "}})]) == {{
		"msg": "alert CheckoutHighErrorRate (group checkout) has no runbook_url annotation: whoever is paged has to work out alone what to check and how to mitigate",
		"details": {"alert": "CheckoutHighErrorRate", "group": "checkout", "case": "no_runbook", "runbook_annotations": "runbook_url", "path": "spec.groups[0].rules[0]"},
	}}
	count(judge_with([alert({"annotations": {"runbook": "https://wiki.example.com/checkout"}})], {"runbook_annotations": ["runbook_url", "runbook"]})) == 0
}

test_bare_alert_gets_one_finding_per_gap if {
	bare := {"alert": "Bare", "expr": "up == 0"}
	{v.details.case | some v in judge([bare])} == {"no_for", "no_severity", "no_runbook"}
}

test_exempt_alerts_are_not_judged if {
	watchdog := {"alert": "Watchdog", "expr": "vector(1)", "labels": {"severity": "none"}}
	count(judge([watchdog])) == 0
	{v.details.case | some v in judge_with([watchdog], {"exempt_alerts": []})} == {"no_for", "no_runbook"}
}

test_recording_rule_name_is_reported if {
	judge([{"record": "dcgm_fi_dev_gpu_util_relabelled", "expr": "DCGM_FI_DEV_GPU_UTIL"}]) == {{
		"msg": "recording rule dcgm_fi_dev_gpu_util_relabelled (group checkout) is not named level:metric:operations: readers cannot tell it from a raw series or see what it aggregates",
		"details": {"record": "dcgm_fi_dev_gpu_util_relabelled", "group": "checkout", "case": "recording_rule_name", "path": "spec.groups[0].rules[0].record"},
	}}
}

test_recording_rule_names_of_kube_prometheus_pass if {
	names := [
		"namespace_job_handler_statuscode:grafana_http_request_duration_seconds_count:rate5m",
		":node_memory_MemAvailable_bytes:sum",
		"node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate",
		"cluster_quantile:apiserver_request_sli_duration_seconds:histogram_quantile",
	]
	count(judge([{"record": n, "expr": "x"} | some n in names])) == 0
	{v.details.record | some v in judge([{"record": "apiserver_request:burnrate1h", "expr": "x"}])} == {"apiserver_request:burnrate1h"}
}

test_paths_point_at_each_group_and_rule if {
	obj := {
		"apiVersion": "monitoring.coreos.com/v1",
		"kind": "PrometheusRule",
		"metadata": {"name": "checkout", "namespace": "monitoring"},
		"spec": {"groups": [
			{"name": "ok", "rules": [good_alert]},
			{"name": "late", "rules": [good_alert, without("for")]},
		]},
	}
	v := rule_sanity.violation with input as testing.review(obj, {})
	{[x.details.group, x.details.path] | some x in v} == {["late", "spec.groups[1].rules[1]"]}
}

test_malformed_rules_are_skipped if {
	obj := {
		"apiVersion": "monitoring.coreos.com/v1",
		"kind": "PrometheusRule",
		"metadata": {"name": "checkout"},
		"spec": {"groups": [null, {"name": "g", "rules": "nope"}, {"name": "h", "rules": [7, null]}]},
	}
	count(rule_sanity.violation) == 0 with input as testing.review(obj, {})
}

test_other_kinds_are_not_judged if {
	cm := {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A"}]}]}}
	count(rule_sanity.violation) == 0 with input as testing.review(cm, {})
}
