# METADATA
# title: Alerting rules wait, route and explain; recording rules are named level:metric:operations
# description: >-
#   Judges every rule of a PrometheusRule (monitoring.coreos.com/v1). An alert
#   needs a `for:` duration of at least min_for_seconds (without one it fires
#   on the first evaluation over its threshold, so one slow scrape or one
#   restarting pod pages someone), a severity label from `severities` (what
#   Alertmanager routes on: an alert without one is routed by the fallback
#   route, or dropped) and a runbook annotation (runbook_annotations, by
#   default runbook_url) that tells whoever is paged what to do. Alerts named in
#   exempt_alerts (the always-firing Watchdog and InfoInhibitor of
#   kube-prometheus) are not judged. A recording rule's name must follow the
#   Prometheus convention level:metric:operations (recording_rule_pattern), so
#   readers can tell a recorded series from a raw one and see what it
#   aggregates; an empty level (`:node_memory_MemAvailable_bytes:sum`, a
#   cluster-wide aggregate) is accepted. Medium: a flapping, unroutable or
#   unexplained alert is ignored or missed while a rollout goes wrong. A
#   recording rule's name is reported at low: it misleads readers but breaks
#   no alert.
# scope: package
# custom:
#   id: observability.rule_sanity
#   severity: medium
#   case_severity: {recording_rule_name: low}
#   controls: ["SOC2:CC7.2", "ISO27001:A.8.16", "NIST-800-53:SI-4"]
#   remediation: >-
#     Give every alert a `for:` duration (for example 5m), a severity label
#     (critical, warning or info) and a runbook_url annotation; name recording
#     rules level:metric:operations, for example
#     job:http_requests_total:rate5m.
#   case_remediation:
#     no_for: >-
#       Add `for: 5m` (at least {{ min_for_seconds }}s) to alert {{ alert }} at
#       {{ path }}, so it fires only when the condition holds that long.
#     short_for: >-
#       Raise `for:` of alert {{ alert }} from {{ for }} to at least
#       {{ min_for_seconds }}s (for example 5m).
#     invalid_for: >-
#       Write `for:` of alert {{ alert }} as a Prometheus duration such as 5m
#       or 1h30m, instead of {{ for }}.
#     no_severity: >-
#       Add a severity label ({{ severities }}) to alert {{ alert }} at
#       {{ path }}.
#     unknown_severity: >-
#       Set the severity label of alert {{ alert }} to one of {{ severities }}
#       instead of {{ severity }}, or add it to the parameter severities.
#     no_runbook: >-
#       Add a {{ runbook_annotations }} annotation to alert {{ alert }}
#       linking to what to check and how to mitigate.
#     recording_rule_name: >-
#       Rename recording rule {{ record }} to level:metric:operations, for
#       example job:http_requests_total:rate5m (and update what reads it).
#   applies_to: [PrometheusRule]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_for_seconds:
#         type: integer
#         minimum: 0
#         default: 60
#         description: Shortest `for:` duration accepted on an alert, in seconds.
#       severities:
#         type: array
#         items: {type: string}
#         default: [critical, warning, info, none]
#         description: Values the severity label may take; empty accepts any non-empty value.
#       runbook_annotations:
#         type: array
#         items: {type: string}
#         default: [runbook_url]
#         description: Annotations of which an alert needs at least one, non-empty.
#       exempt_alerts:
#         type: array
#         items: {type: string}
#         default: [Watchdog, InfoInhibitor]
#         description: Alerts that fire on purpose all the time (dead man's switches, inhibitors) and are not judged.
#       recording_rule_pattern:
#         type: string
#         default: '^[a-zA-Z_0-9]*:[a-zA-Z_][a-zA-Z0-9_]*(:[a-zA-Z0-9_]+)+$'
#         description: Regular expression (RE2) a recording rule's name must match.
#   example_allowed: |
#     kind: PrometheusRule
#     spec:
#       groups:
#         - name: checkout
#           rules:
#             - record: job:http_requests_total:rate5m
#               expr: sum by (job) (rate(http_requests_total[5m]))
#             - alert: CheckoutHighErrorRate
#               expr: job:http_errors_total:rate5m{job="checkout"} / job:http_requests_total:rate5m{job="checkout"} > 0.05
#               for: 5m
#               labels: {severity: critical}
#               annotations: {runbook_url: "https://runbooks.example.com/checkout/errors"}
#   example_disallowed: |
#     kind: PrometheusRule
#     spec:
#       groups:
#         - name: checkout
#           rules:
#             - record: checkout_rate
#               expr: sum(rate(http_requests_total{job="checkout"}[5m]))
#             - alert: CheckoutHighErrorRate
#               expr: rate(http_errors_total{job="checkout"}[5m]) > 1
package rollguard.observability.rule_sanity

import data.rollguard.lib.k8s

# --- Parameters -----------------------------------------------------------------------------

min_for_seconds := n if {
	n := input.parameters.min_for_seconds
	is_number(n)
} else := 60

severities := string_list("severities", ["critical", "warning", "info", "none"])

runbook_annotations := string_list("runbook_annotations", ["runbook_url"])

exempt_alerts := {a | some a in string_list("exempt_alerts", ["Watchdog", "InfoInhibitor"])}

recording_rule_pattern := p if {
	p := input.parameters.recording_rule_pattern
	is_string(p)
	regex.is_valid(p)
} else := `^[a-zA-Z_0-9]*:[a-zA-Z_][a-zA-Z0-9_]*(:[a-zA-Z0-9_]+)+$`

string_list(key, fallback) := [s | some s in input.parameters[key]; is_string(s)] if {
	is_array(input.parameters[key])
} else := fallback

# --- The rules of the PrometheusRule under review -------------------------------------------

# Every rule with its group and where it is (`spec.groups[0].rules[2]`), for `details.path`.
rules contains {"group": group_name(g, gi), "rule": r, "path": sprintf("spec.groups[%d].rules[%d]", [gi, ri])} if {
	k8s.kind == "PrometheusRule"
	groups := k8s.obj.spec.groups
	is_array(groups)
	some gi, g in groups
	is_object(g)
	is_array(g.rules)
	some ri, r in g.rules
	is_object(r)
}

# A group's name; an unnamed group (which Prometheus rejects) by its index.
group_name(g, i) := g.name if {
	is_string(g.name)
} else := sprintf("groups[%d]", [i])

alerts contains a if {
	some a in rules
	name := a.rule.alert
	is_string(name)
	not name in exempt_alerts
}

# --- Alerts ---------------------------------------------------------------------------------

violation contains {"msg": msg, "details": d} if {
	some a in alerts
	not has_for(a.rule)
	d := details(a, {"case": "no_for", "min_for_seconds": min_for_seconds, "path": a.path})
	msg := sprintf("alert %s (group %s) has no `for:` duration: it fires on the first evaluation over its threshold, so one slow scrape or one restarting pod pages someone", [a.rule.alert, a.group])
}

violation contains {"msg": msg, "details": d} if {
	some a in alerts
	v := a.rule["for"]
	has_for(a.rule)
	seconds := duration_seconds(v)
	seconds < min_for_seconds
	d := details(a, {"case": "short_for", "for": v, "min_for_seconds": min_for_seconds, "path": sprintf("%s.for", [a.path])})
	msg := sprintf("alert %s (group %s) waits only %s before firing, less than %ds: a short blip pages someone", [a.rule.alert, a.group, v, min_for_seconds])
}

violation contains {"msg": msg, "details": d} if {
	some a in alerts
	v := a.rule["for"]
	has_for(a.rule)
	not duration_seconds(v)
	d := details(a, {"case": "invalid_for", "for": v, "min_for_seconds": min_for_seconds, "path": sprintf("%s.for", [a.path])})
	msg := sprintf("alert %s (group %s) has `for: %v`, which is not a Prometheus duration: Prometheus rejects the rule group", [a.rule.alert, a.group, v])
}

violation contains {"msg": msg, "details": d} if {
	some a in alerts
	not has_string_label(a.rule, "severity")
	d := details(a, {"case": "no_severity", "severities": concat(", ", severities), "path": a.path})
	msg := sprintf("alert %s (group %s) has no severity label: Alertmanager routes on it, so the alert goes to the fallback route or nowhere", [a.rule.alert, a.group])
}

violation contains {"msg": msg, "details": d} if {
	some a in alerts
	count(severities) > 0
	s := a.rule.labels.severity
	is_string(s)
	s != ""
	not s in severities
	d := details(a, {"case": "unknown_severity", "severity": s, "severities": concat(", ", severities), "path": sprintf("%s.labels.severity", [a.path])})
	msg := sprintf("alert %s (group %s) has severity %q, none of %s: no Alertmanager route expects it", [a.rule.alert, a.group, s, concat(", ", severities)])
}

violation contains {"msg": msg, "details": d} if {
	some a in alerts
	not has_runbook(a.rule)
	d := details(a, {"case": "no_runbook", "runbook_annotations": concat(" or ", runbook_annotations), "path": a.path})
	msg := sprintf("alert %s (group %s) has no %s annotation: whoever is paged has to work out alone what to check and how to mitigate", [a.rule.alert, a.group, concat(" or ", runbook_annotations)])
}

details(a, extra) := object.union({"alert": a.rule.alert, "group": a.group}, extra)

# `for: 0s` is Prometheus' own default: the same as no `for:`.
has_for(r) if {
	v := r["for"]
	v != null
	not zero_duration(v)
}

zero_duration(v) if v == 0

zero_duration(v) if {
	is_string(v)
	regex.match(`^(0+(ms|s|m|h|d|w|y))+$`, v)
}

has_string_label(r, key) if {
	v := r.labels[key]
	is_string(v)
	v != ""
}

has_runbook(r) if {
	some key in runbook_annotations
	v := r.annotations[key]
	is_string(v)
	trim_space(v) != ""
}

# Seconds of a Prometheus duration (`90s`, `5m`, `1h30m`, `1d`); undefined for anything else.
duration_seconds(v) := sum([n |
	some m in regex.find_all_string_submatch_n(`([0-9]+)(ms|s|m|h|d|w|y)`, v, -1)
	n := to_number(m[1]) * unit_seconds[m[2]]
]) if {
	is_string(v)
	regex.match(`^([0-9]+(ms|s|m|h|d|w|y))+$`, v)
}

unit_seconds := {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}

# --- Recording rules ------------------------------------------------------------------------

violation contains {"msg": msg, "details": d} if {
	some a in rules
	name := a.rule.record
	is_string(name)
	not regex.match(recording_rule_pattern, name)
	d := {"record": name, "group": a.group, "case": "recording_rule_name", "path": sprintf("%s.record", [a.path])}
	msg := sprintf("recording rule %s (group %s) is not named level:metric:operations: readers cannot tell it from a raw series or see what it aggregates", [name, a.group])
}
