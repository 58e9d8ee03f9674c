# METADATA
# title: Rolled workloads that serve traffic have error-rate and latency alerts split by version
# description: >-
#   A rollout replaces pods while users are served; what notices a bad new
#   version is an alert on its error rate and its latency. Judges every
#   Deployment, StatefulSet, DaemonSet, Argo Rollout and DeploymentConfig of the
#   change that runs a container image and serves traffic (a Service of its
#   namespace selects its pods, or a container declares a port) against the
#   alerting rules of every PrometheusRule (monitoring.coreos.com/v1) in the
#   change, in any namespace. An alert watches the workload when its expr has
#   a label matcher on one of workload_labels (job, service, app, ...) that
#   selects the workload's name, its app.kubernetes.io/name or app pod label,
#   or the name of a Service selecting it (`=`, or `=~` matching the whole
#   name), or when the alert's own labels carry one of those pairs; an expr
#   whose `namespace="..."` matcher names another namespace does not. An alert
#   is about errors or latency by its name and expr (error_alert_pattern,
#   latency_alert_pattern, case-insensitive). The workload needs at least one
#   of each, and at least one of them split by version: an aggregation `by`
#   (...) a label of version_labels, or a matcher on one, so a spike on the
#   new pods is not averaged away by the old ones. Only a change that holds
#   PrometheusRules is judged (its alerts are managed beside its manifests);
#   a change without any keeps its alerts elsewhere, which rollguard cannot
#   see, unless require_rules asks for them in every change. Medium: a
#   missing alert does not break the rollout, it lets a bad version serve
#   until users report it.
# scope: package
# custom:
#   id: observability.rollout_alerts
#   severity: medium
#   controls: ["SOC2:CC7.2", "SOC2:CC8.1", "ISO27001:A.8.16", "NIST-800-53:SI-4"]
#   remediation: >-
#     Add a PrometheusRule with an error-rate alert and a latency alert on the
#     workload (for example matching job="<service>"), at least one of them
#     aggregated `by (version)` so a regression on the new pods shows on its
#     own, each with a `for:` duration, a severity and a runbook_url.
#   case_remediation:
#     no_alerts: >-
#       Add a PrometheusRule to the change with an error-rate alert and a
#       latency alert whose expr has a matcher on one of {{ workload_labels }}
#       selecting {{ names }}, for example sum by (version) (rate(http_requests_total{job="{{ name }}",
#       code=~"5.."}[5m])) / sum by (version) (rate(http_requests_total{job="{{ name }}"}[5m])) > 0.05.
#     missing_signal: >-
#       Add an alert on the {{ missing }} of {{ names }} beside {{ alerts }},
#       with a matcher on one of {{ workload_labels }} that selects it.
#     not_split_by_version: >-
#       Aggregate one of {{ alerts }} by a version label ({{ version_labels }}),
#       for example sum by (version) (...), so the new pods' error rate or
#       latency is compared on its own rather than averaged with the old ones.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig]
#   # Kinds read from data.inventory, by the kind being judged.
#   inventory: {"*": [PrometheusRule, Service]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       require_rules:
#         type: boolean
#         default: false
#         description: >-
#           Judge a change that holds no PrometheusRule too (every serving
#           workload is then reported): for teams that keep their alerts beside
#           their manifests.
#       workload_labels:
#         type: array
#         items: {type: string}
#         default: [job, service, app, app_kubernetes_io_name, container, deployment, statefulset, daemonset, rollout, workload]
#         description: Prometheus labels whose matchers tie an alert to a workload by its names.
#       version_labels:
#         type: array
#         items: {type: string}
#         default: [version, app_kubernetes_io_version, rollouts_pod_template_hash, pod_template_hash]
#         description: Prometheus labels that tell a rollout's new pods from its old ones.
#       error_alert_pattern:
#         type: string
#         default: 'error|5xx|5\.\.|5\.\*|5\[0-9\]|fail|non.?2xx|availability|success'
#         description: >-
#           Regular expression (RE2, matched against the lower-cased alert name
#           and expr) that marks an alert as watching the error rate.
#       latency_alert_pattern:
#         type: string
#         default: 'latency|histogram_quantile|_bucket|_duration_seconds_sum|response.?time|slow|\bp(50|75|90|95|99|999)\b'
#         description: >-
#           Regular expression (RE2, matched against the lower-cased alert name
#           and expr) that marks an alert as watching latency.
#   example_allowed: |
#     kind: Deployment
#     metadata: {name: checkout}
#     spec:
#       template:
#         spec:
#           containers: [{name: app, image: checkout:2.1, ports: [{containerPort: 8080}]}]
#     ---
#     kind: PrometheusRule
#     spec:
#       groups:
#         - name: checkout
#           rules:
#             - alert: CheckoutErrorRateByVersion
#               expr: sum by (version) (rate(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum by (version) (rate(http_requests_total{job="checkout"}[5m])) > 0.05
#             - alert: CheckoutLatencyP99
#               expr: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="checkout"}[5m]))) > 0.5
#   example_disallowed: |
#     kind: Deployment
#     metadata: {name: checkout}
#     spec:
#       template:
#         spec:
#           containers: [{name: app, image: checkout:2.1, ports: [{containerPort: 8080}]}]
#     ---
#     kind: PrometheusRule
#     spec:
#       groups:
#         - name: checkout
#           rules:
#             - alert: CheckoutErrorRate
#               expr: sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="checkout"}[5m])) > 0.05
package rollguard.observability.rollout_alerts

import data.rollguard.lib.changeset
import data.rollguard.lib.k8s

# --- Parameters -----------------------------------------------------------------------------

workload_labels := string_list("workload_labels", [
	"job", "service", "app", "app_kubernetes_io_name", "container",
	"deployment", "statefulset", "daemonset", "rollout", "workload",
])

version_labels := string_list("version_labels", ["version", "app_kubernetes_io_version", "rollouts_pod_template_hash", "pod_template_hash"])

error_pattern := pattern_param("error_alert_pattern", `error|5xx|5\.\.|5\.\*|5\[0-9\]|fail|non.?2xx|availability|success`)

latency_pattern := pattern_param("latency_alert_pattern", `latency|histogram_quantile|_bucket|_duration_seconds_sum|response.?time|slow|\bp(50|75|90|95|99|999)\b`)

# Taken as given: an entry that is not a string never equals a label name.
string_list(key, fallback) := input.parameters[key] if {
	is_array(input.parameters[key])
} else := fallback

pattern_param(key, fallback) := p if {
	p := input.parameters[key]
	is_string(p)
	regex.is_valid(p)
} else := fallback

# --- What is judged -------------------------------------------------------------------------

# A workload of the change that rolls out pods running an image, and serves traffic. The
# quick test first: a container that declares a port needs no look-up of Services.
judged if {
	judged_change
	k8s.kind in changeset.rollout_kinds
	changeset.runs_image(k8s.obj)
	serves_traffic
}

# Alerts managed beside the manifests: the change (or the cluster inventory) holds PrometheusRules.
judged_change if count(prometheus_rules) > 0

judged_change if input.parameters.require_rules == true

serves_traffic if {
	some c in k8s.obj_containers
	k8s.declares_ports(c)
}

serves_traffic if count(k8s.obj_services) > 0

# What an alert may name the workload by: its own name, its app.kubernetes.io/name and app pod
# labels, and the names of the Services selecting its pods (the usual Prometheus `job`).
names := sort({n |
	some n in array.concat(
		[own_name, object.get(k8s.obj_pod_labels, "app.kubernetes.io/name", ""), object.get(k8s.obj_pod_labels, "app", "")],
		[svc.metadata.name | some svc in k8s.obj_services],
	)
	is_string(n)
	n != ""
})

# The workload's own name; "" for a document without one (generateName), which names leaves out.
own_name := object.get(object.get(k8s.obj, "metadata", {}), "name", "")

# --- The alerts of the change ---------------------------------------------------------------

# monitoring.coreos.com/v1 is the only version of PrometheusRule: looked up by it, the other
# API groups of each namespace are not walked.
prometheus_rules := [o |
	some o in data.inventory.namespace[_]["monitoring.coreos.com/v1"].PrometheusRule
	is_object(o)
]

# Every alerting rule of the change, as found: parsing waits until an alert may watch the
# workload under review (candidate), so a change with many alerts pays for the few that can.
alert_rules := [{"rule": r, "expr": expr_text(r.expr), "where": where} |
	some o in prometheus_rules
	where := sprintf("PrometheusRule %s/%s", [object.get(o.metadata, "namespace", "default"), o.metadata.name])
	is_array(o.spec.groups)
	some g in o.spec.groups
	is_array(g.rules)
	some r in g.rules
	is_string(r.alert)
]

# expr is a string in YAML's block form, but a bare number (`expr: 1`) parses as one.
expr_text(e) := e if {
	is_string(e)
} else := sprintf("%v", [e])

# A cheap superset of the alerts that tie to the workload (ties): the expr names one of its
# names, or has a regular-expression matcher on a label of workload_labels, or the alert's
# labels carry one of its names.
candidate(r) if {
	some n in names
	contains(r.expr, n)
}

candidate(r) if regex.match(regex_matcher_pattern, r.expr)

# By the alert's own labels (a severity or two), fewer than workload_labels.
candidate(r) if {
	some k, v in r.rule.labels
	v in names
	k in workload_labels
}

regex_matcher_pattern := sprintf(`\b(?:%s)\s*=~`, [concat("|", [l | some l in workload_labels; is_string(l)])])

# An alerting rule, parsed: its label matchers, the labels it aggregates by, and what it
# watches (signals) by its name and expr.
parsed(r) := {
	"display": sprintf("%s (%s)", [r.rule.alert, r.where]),
	"matchers": matchers(r.expr),
	"by": aggregated_by(r.expr),
	"labels": string_labels(r.rule),
	"signals": {s | some s, p in signals; regex.match(p, text)},
} if {
	text := lower(sprintf("%s %s", [r.rule.alert, r.expr]))
}

# Label matchers of a PromQL expression as {"label", "op", "value"}: `job="checkout"`,
# `code=~'5..'`. Read with a regular expression, not a PromQL parser: a string literal that
# itself holds `a="b"` would pass for a matcher, and alert expressions do not hold such strings.
matchers(expr) := [{"label": m[1], "op": m[2], "value": m[3]} |
	some m in array.concat(
		regex.find_all_string_submatch_n(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`, expr, -1),
		regex.find_all_string_submatch_n(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*'([^']*)'`, expr, -1),
	)
]

# Labels named in every `by (...)` clause of a PromQL expression.
aggregated_by(expr) := {trim_space(l) |
	some m in regex.find_all_string_submatch_n(`\bby\s*\(([^)]*)\)`, expr, -1)
	some l in split(m[1], ",")
	trim_space(l) != ""
}

string_labels(r) := {k: v | some k, v in r.labels; is_string(v)} if {
	is_object(r.labels)
} else := {}

# The alerts that watch the workload under review.
watching := [a |
	some r in alert_rules
	candidate(r)
	a := parsed(r)
	ties(a)
	not other_namespace(a)
]

ties(a) if {
	some m in a.matchers
	m.label in workload_labels
	selects(m, names)
}

ties(a) if {
	some k in workload_labels
	a.labels[k] in names
}

selects(m, candidates) if {
	m.op == "="
	m.value in candidates
}

selects(m, candidates) if {
	m.op == "=~"
	pattern := sprintf("^(?:%s)$", [m.value])
	regex.is_valid(pattern)
	some n in candidates
	regex.match(pattern, n)
}

other_namespace(a) if {
	some m in a.matchers
	m.label == "namespace"
	m.op == "="
	m.value != k8s.namespace
}

signals := {"error-rate": error_pattern, "latency": latency_pattern}

covered := {s | some a in watching; some s in a.signals}

missing := sort([s | some s, _ in signals; not s in covered])

# The error-rate and latency alerts watching the workload.
signal_alerts := [a |
	some a in watching
	count(a.signals) > 0
]

split_by_version(a) if {
	some l in a.by
	l in version_labels
}

split_by_version(a) if {
	some m in a.matchers
	m.label in version_labels
}

displays(list) := sort({a.display | some a in list})

# --- Findings -------------------------------------------------------------------------------

labels_path := sprintf("%s.labels", [k8s.obj_pod_metadata_path])

# One test of whether the document is judged at all: most changes hold no PrometheusRule, and
# then none of the finding rules is entered.
violation contains v if {
	judged
	some v in finding
}

finding contains {"msg": msg, "details": d} if {
	count(watching) == 0
	d := {
		"name": own_name,
		"names": concat(", ", names),
		"workload_labels": concat(", ", workload_labels),
		"case": "no_alerts",
		"path": labels_path,
	}
	msg := sprintf("serves traffic but no alert of the change's PrometheusRules selects it by one of its names (%s): a bad rollout is noticed only when users report it", [concat(", ", names)])
}

finding contains {"msg": msg, "details": d} if {
	count(watching) > 0
	count(missing) > 0
	d := {
		"name": own_name,
		"names": concat(", ", names),
		"workload_labels": concat(", ", workload_labels),
		"missing": concat(" and ", missing),
		"alerts": concat(", ", displays(watching)),
		"case": "missing_signal",
		"path": labels_path,
	}
	msg := sprintf("has no %s alert among the alerts that select it (%s): a rollout that degrades its %s goes unnoticed", [concat(" or ", missing), concat(", ", displays(watching)), concat(" or ", missing)])
}

finding contains {"msg": msg, "details": d} if {
	count(watching) > 0
	count(missing) == 0
	not any_split
	d := {
		"alerts": concat(", ", displays(signal_alerts)),
		"version_labels": concat(", ", version_labels),
		"case": "not_split_by_version",
		"path": labels_path,
	}
	msg := sprintf("has error-rate and latency alerts (%s) but none split by version (%s): a spike on the new pods is averaged with the old ones and may stay under the threshold", [concat(", ", displays(signal_alerts)), concat(", ", version_labels)])
}

any_split if {
	some a in signal_alerts
	split_by_version(a)
}
