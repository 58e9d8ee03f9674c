# METADATA
# title: Argo Rollouts are rolled back automatically on error-rate and latency breaches
# description: >-
#   A progressive rollout is only as safe as what aborts it. Judges Argo
#   Rollouts with a canary or blueGreen strategy together with the
#   AnalysisTemplates and ClusterAnalysisTemplates they reference (from the
#   change or the cluster inventory): the analysis must hold at least one
#   metric on errors and one on latency (required_metric_categories), each with
#   a successCondition or failureCondition, an explicit failureLimit below its
#   count, and not in dry-run mode; a canary must pause or analyse after its
#   first partial weight and before full traffic (an experiment step with
#   analyses counts as analysis and holds the rollout like an analysis step:
#   the rollout waits for the experiment and aborts when its analyses fail);
#   a blueGreen rollout must not
#   promote unchecked; and an aborted version must be scaled down within
#   max_abort_scale_down_delay_seconds. A referenced template that is neither in
#   the change nor in the inventory is reported, not assumed to be fine.
#   Metrics are classified by their name and provider (query, URL) with the
#   case-insensitive patterns error_metric_pattern and latency_metric_pattern.
#   Medium because a Rollout without automated analysis is no riskier than a
#   plain Deployment, which rollguard does not block for lacking one: the
#   analysis is the extra safety net progressive delivery adds.
# scope: package
# custom:
#   id: k8s.rollout_analysis
#   severity: medium
#   controls: ["SOC2:CC8.1", "SOC2:CC7.2", "ISO27001:A.8.32", "NIST-800-53:CM-3", "NIST-800-53:SI-4"]
#   remediation: >-
#     Reference AnalysisTemplates from spec.strategy.canary.analysis or analysis
#     steps (blueGreen: prePromotionAnalysis) with one error-rate metric (for
#     example successCondition: result[0] >= 0.99 on the share of non-5xx
#     responses) and one latency metric (for example failureCondition:
#     result[0] > 0.5 on a p99 histogram_quantile), each with failureLimit set
#     (0 aborts on the first failed measurement) and below count. Add a pause
#     or analysis step after the first setWeight below 100, and keep
#     abortScaleDownDelaySeconds unset (30s) or between 1 and the maximum.
#   case_remediation:
#     no_analysis: >-
#       Add an automated analysis to the {{ strategy }} strategy (canary:
#       spec.strategy.canary.analysis or an analysis step; blueGreen:
#       prePromotionAnalysis) referencing AnalysisTemplates with an error-rate
#       metric (for example successCondition: result[0] >= 0.99 on the share of
#       non-5xx responses) and a latency metric (for example failureCondition:
#       result[0] > 0.5 on a p99 histogram_quantile), each with failureLimit
#       set.
#     missing_template: >-
#       Add {{ template }} to the change (or create it in the cluster first), or
#       correct the reference in {{ referenced_in }}.
#     reference_without_name: >-
#       Give the template reference at {{ field }} a templateName, or remove
#       it.
#     no_templates: >-
#       Reference at least one AnalysisTemplate from {{ field }}, or remove the
#       empty analysis.
#     metric_coverage: >-
#       Give {{ templates }} a metric of category {{ category }} that can abort
#       the rollout: a successCondition or failureCondition, failureLimit set
#       (0 aborts on the first failed measurement) and below count, and not in
#       dryRun.
#     no_partial_step: >-
#       Shift part of the traffic first and hold there: for example steps
#       setWeight: 10, pause: {duration: 5m}, setWeight: 50, pause: {duration:
#       5m}, or an analysis step instead of a pause.
#     no_pause: >-
#       Add a pause with a non-zero duration, or an analysis step, after
#       steps[{{ first_partial_step }}] (setWeight {{ first_partial_weight }})
#       and before the rollout reaches full traffic.
#     auto_promotion: >-
#       Add a prePromotionAnalysis to the blueGreen strategy, or set
#       autoPromotionEnabled: false (or autoPromotionSeconds) so the new version
#       is promoted only after a check.
#     abort_delay: >-
#       Set {{ field }} to a number of seconds between 1 and {{ max_seconds }},
#       or remove it (30s).
#   applies_to: [Rollout]
#   # Kinds read from data.inventory, by the kind being judged.
#   inventory: {Rollout: [AnalysisTemplate, ClusterAnalysisTemplate]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       required_metric_categories:
#         type: array
#         items: {type: string, enum: [errors, latency]}
#         default: [errors, latency]
#         description: Kinds of metric the analysis must hold, each able to fail the rollout.
#       error_metric_pattern:
#         type: string
#         default: 'error|5xx|5\.\.|5\.\*|fail|success|availability|non.?2xx'
#         description: >-
#           Regular expression (RE2, matched against the lower-cased metric name and
#           provider) that marks a metric as measuring errors.
#       latency_metric_pattern:
#         type: string
#         default: 'latency|duration|\bp(50|75|90|95|99|999)\b|response.?time|histogram_quantile|_bucket|slow|\brtt\b|ttfb'
#         description: >-
#           Regular expression (RE2, matched against the lower-cased metric name and
#           provider) that marks a metric as measuring latency.
#       max_abort_scale_down_delay_seconds:
#         type: integer
#         minimum: 1
#         default: 600
#         description: Longest abortScaleDownDelaySeconds accepted.
#       allow_zero_abort_scale_down_delay:
#         type: boolean
#         default: false
#         description: Accept abortScaleDownDelaySeconds 0, which leaves an aborted version running forever.
#   example_allowed: |
#     kind: Rollout
#     spec:
#       strategy:
#         canary:
#           analysis:
#             templates: [{templateName: http-slo}]
#           steps:
#             - setWeight: 10
#             - pause: {duration: 5m}
#             - setWeight: 50
#             - pause: {duration: 5m}
#     ---
#     kind: AnalysisTemplate
#     metadata: {name: http-slo}
#     spec:
#       metrics:
#         - name: error-rate
#           successCondition: result[0] >= 0.99
#           failureLimit: 1
#           provider: {prometheus: {query: "..."}}
#         - name: latency-p99
#           failureCondition: result[0] > 0.5
#           failureLimit: 1
#           provider: {prometheus: {query: "..."}}
#   example_disallowed: |
#     kind: Rollout
#     spec:
#       strategy:
#         canary:
#           steps:
#             - setWeight: 50
#             - setWeight: 100
package rollguard.k8s.rollout_analysis

import data.rollguard.lib.k8s

# --- What is judged -----------------------------------------------------------------------

rollout := k8s.obj if k8s.kind == "Rollout"

strategy_name := "canary" if {
	is_object(rollout.spec.strategy.canary)
} else := "blueGreen" if {
	is_object(rollout.spec.strategy.blueGreen)
}

strategy := rollout.spec.strategy[strategy_name]

# Analysis blocks of the strategy, by the field they sit in, with the name of the field that
# lists their template references (`templates`; an experiment step's `analyses`).
analysis_blocks contains {"field": "spec.strategy.canary.analysis", "block": b, "list": "templates"} if {
	strategy_name == "canary"
	b := strategy.analysis
	is_object(b)
}

analysis_blocks contains {"field": sprintf("spec.strategy.canary.steps[%d].analysis", [i]), "block": b, "list": "templates"} if {
	strategy_name == "canary"
	some i, step in canary_steps
	b := step.analysis
	is_object(b)
}

# An experiment step runs its analyses beside the experiment's ReplicaSets; the rollout waits
# for the experiment and aborts when one of them fails. Its `templates` are ReplicaSet specs,
# not AnalysisTemplates, and an experiment without analyses measures nothing.
analysis_blocks contains {"field": sprintf("spec.strategy.canary.steps[%d].experiment", [i]), "block": b, "list": "analyses"} if {
	strategy_name == "canary"
	some i, step in canary_steps
	b := step.experiment
	experiment_with_analyses(b)
}

analysis_blocks contains {"field": sprintf("spec.strategy.blueGreen.%s", [f]), "block": b, "list": "templates"} if {
	strategy_name == "blueGreen"
	some f in ["prePromotionAnalysis", "postPromotionAnalysis"]
	b := strategy[f]
	is_object(b)
}

experiment_with_analyses(experiment) if {
	is_object(experiment)
	is_array(experiment.analyses)
	count(experiment.analyses) > 0
}

canary_steps := [s | some s in strategy.steps] if {
	is_array(strategy.steps)
} else := []

# --- Template references --------------------------------------------------------------------

# One entry per referenced template, with every field that references it.
refs contains {"name": name, "cluster": cluster, "fields": fields, "paths": paths} if {
	some key in ref_keys
	[name, cluster] := key
	fields := sort([a.field |
		some a in analysis_blocks
		some t in block_templates(a)
		ref_key(t) == key
	])

	# Each reference entry, for `details.path`: `spec.strategy.canary.analysis.templates[0]`.
	paths := sort([sprintf("%s.%s[%d]", [a.field, a.list, i]) |
		some a in analysis_blocks
		is_array(a.block[a.list])
		some i, t in a.block[a.list]
		is_object(t)
		ref_key(t) == key
	])
}

ref_keys contains ref_key(t) if {
	some a in analysis_blocks
	some t in block_templates(a)
	is_string(t.templateName)
	t.templateName != ""
}

ref_key(t) := [t.templateName, object.get(t, "clusterScope", false) == true]

# The template references of an analysis block (an entry of analysis_blocks).
block_templates(a) := [t | some t in a.block[a.list]; is_object(t)] if {
	is_array(a.block[a.list])
} else := []

# The template a reference names: the same namespace for AnalysisTemplate, the cluster for
# ClusterAnalysisTemplate. Only data.inventory is read, so Gatekeeper decides alike.
resolve(ref) := found[0] if {
	ref.cluster
	found := [o | o := data.inventory.cluster[_]["ClusterAnalysisTemplate"][ref.name]]
	count(found) > 0
} else := found[0] if {
	not ref.cluster
	found := [o | o := data.inventory.namespace[k8s.namespace][_]["AnalysisTemplate"][ref.name]]
	count(found) > 0
}

template_kind(ref) := "ClusterAnalysisTemplate" if ref.cluster else := "AnalysisTemplate"

template_display(ref) := sprintf("ClusterAnalysisTemplate %s", [ref.name]) if {
	ref.cluster
} else := sprintf("AnalysisTemplate %s/%s", [k8s.namespace, ref.name])

unresolved contains ref if {
	some ref in refs
	not resolve(ref)
}

all_resolved if count(unresolved) == 0

# --- Metrics and their classification -------------------------------------------------------

metrics contains {"template": template_display(ref), "name": m.name, "metric": m, "spec": t.spec} if {
	some ref in refs
	t := resolve(ref)
	is_array(t.spec.metrics)
	some m in t.spec.metrics
	is_object(m)
	is_string(m.name)
}

category_patterns := {
	"errors": pattern_param("error_metric_pattern", `error|5xx|5\.\.|5\.\*|fail|success|availability|non.?2xx`),
	"latency": pattern_param("latency_metric_pattern", `latency|duration|\bp(50|75|90|95|99|999)\b|response.?time|histogram_quantile|_bucket|slow|\brtt\b|ttfb`),
}

category_labels := {"errors": "error-rate", "latency": "latency"}

category_breaches := {"errors": "an error-rate breach", "latency": "a latency breach"}

pattern_param(key, default_pattern) := p if {
	p := input.parameters[key]
	is_string(p)
	regex.is_valid(p)
} else := default_pattern

# The text a metric is classified by: its name and its provider (query, URL, job), lower-cased.
metric_text(m) := lower(concat(" ", [m.name, json.marshal(object.get(m, "provider", {}))]))

in_category(entry, category) if regex.match(category_patterns[category], metric_text(entry.metric))

required_categories := [c |
	some c in input.parameters.required_metric_categories
	category_patterns[c]
] if {
	is_array(input.parameters.required_metric_categories)
} else := ["errors", "latency"]

# --- What makes a metric able to abort the rollout ------------------------------------------

metric_problems(entry) := [p | some p in problem_set(entry)]

problem_set(entry) := {p | some p in all_problems(entry); p != ""}

all_problems(entry) := [
	condition_problem(entry.metric),
	failure_limit_problem(entry.metric),
	dry_run_problem(entry),
]

condition_problem(m) := "" if {
	some field in ["successCondition", "failureCondition"]
	non_empty_string(m[field])
} else := "no successCondition or failureCondition"

# Argo fails a metric when more than failureLimit measurements failed; unset means 0. It is
# required explicitly so the tolerance is a reviewed choice; 0 (abort on the first failed
# measurement) is accepted. A value from an argument ("{{args.limit}}") counts as set.
failure_limit_problem(m) := "no failureLimit" if {
	object.get(m, "failureLimit", null) == null
} else := "" if {
	is_string(m.failureLimit)
	contains(m.failureLimit, "{{")
} else := sprintf("failureLimit %s, not a non-negative count", [json.marshal(m.failureLimit)]) if {
	not limit_number(m.failureLimit)
} else := sprintf("failureLimit %d not below count %d, so it can never fail", [limit, n]) if {
	limit := limit_number(m.failureLimit)
	n := limit_number(m.count)
	limit >= n
} else := ""

limit_number(v) := v if {
	is_number(v)
	v >= 0
	v == floor(v)
} else := to_number(v) if {
	is_string(v)
	regex.match(`^[0-9]+$`, v)
}

# Metrics named in the template's or the Rollout's dryRun never change the rollout's outcome.
dry_run_problem(entry) := "dry-run mode, so its result never aborts the rollout" if {
	some pattern in dry_run_patterns(entry.spec)
	regex.is_valid(sprintf("^(?:%s)$", [pattern]))
	regex.match(sprintf("^(?:%s)$", [pattern]), entry.name)
} else := ""

dry_run_patterns(spec) := [d.metricName |
	some list in array.concat([object.get(spec, "dryRun", [])], [object.get(a.block, "dryRun", []) | some a in analysis_blocks])
	is_array(list)
	some d in list
	is_string(d.metricName)
]

non_empty_string(s) if {
	is_string(s)
	trim_space(s) != ""
}

effective(category) if {
	some entry in metrics
	in_category(entry, category)
	count(metric_problems(entry)) == 0
}

# --- Violations: analysis -------------------------------------------------------------------

violation contains {"msg": msg, "details": d} if {
	strategy_name
	count(analysis_blocks) == 0
	d := {"strategy": strategy_name, "missing": "analysis", "case": "no_analysis", "path": analysis_paths[strategy_name]}
	msg := sprintf("%s has no automated analysis in its %s strategy (%s): nothing rolls it back on an error-rate or latency breach", [k8s.display, strategy_name, analysis_fields[strategy_name]])
}

analysis_fields := {
	"canary": "spec.strategy.canary.analysis or an analysis step",
	"blueGreen": "prePromotionAnalysis or postPromotionAnalysis",
}

# Where a missing analysis belongs.
analysis_paths := {
	"canary": "spec.strategy.canary.analysis",
	"blueGreen": "spec.strategy.blueGreen.prePromotionAnalysis",
}

violation contains {"msg": msg, "details": d} if {
	some ref in unresolved
	d := {
		"template": template_display(ref),
		"kind": template_kind(ref),
		"referenced_in": ref.fields,
		"case": "missing_template",
		"path": sprintf("%s.templateName", [ref.paths[0]]),
	}
	msg := sprintf("%s references %s, which is neither in the change nor in the inventory: its error-rate and latency conditions cannot be verified", [k8s.display, template_display(ref)])
}

violation contains {"msg": msg, "details": d} if {
	some a in analysis_blocks
	templates := a.block[a.list]
	is_array(templates)
	some i, t in templates
	not valid_reference(t)
	field := sprintf("%s.%s[%d]", [a.field, a.list, i])
	d := {"field": field, "reference": t, "case": "reference_without_name", "path": field}
	msg := sprintf("%s has an analysis template reference without a templateName in %s", [k8s.display, field])
}

violation contains {"msg": msg, "details": d} if {
	some a in analysis_blocks
	count(block_templates(a)) == 0
	d := {"field": a.field, "templates": [], "case": "no_templates", "path": sprintf("%s.%s", [a.field, a.list])}
	msg := sprintf("%s has an analysis in %s that references no AnalysisTemplate, so it measures nothing", [k8s.display, a.field])
}

valid_reference(t) if {
	is_object(t)
	non_empty_string(t.templateName)
}

# A required kind of metric that no template of the analysis holds in a form that can fail.
violation contains {"msg": msg, "details": d} if {
	count(refs) > 0
	all_resolved
	some category in required_categories
	not effective(category)
	candidates := sort([{"template": e.template, "metric": e.name, "problems": metric_problems(e)} |
		some e in metrics
		in_category(e, category)
	])
	templates := sort([template_display(ref) | some ref in refs])
	d := {
		"category": category,
		"templates": templates,
		"metrics": candidates,
		"case": "metric_coverage",
		"path": min({p | some ref in refs; some p in ref.paths}),
	}
	msg := coverage_message(category, templates, candidates)
}

coverage_message(category, templates, candidates) := sprintf("%s has no %s metric in %s: nothing aborts it on %s", [k8s.display, category_labels[category], concat(", ", templates), category_breaches[category]]) if {
	count(candidates) == 0
}

coverage_message(category, _, candidates) := sprintf("%s has no %s metric that can abort it: %s", [k8s.display, category_labels[category], concat("; ", [s |
	some c in candidates
	s := sprintf("metric %q of %s: %s", [c.metric, c.template, concat(", ", c.problems)])
])]) if {
	count(candidates) > 0
}

# --- Violations: steps and promotion --------------------------------------------------------

violation contains {"msg": msg, "details": d} if {
	strategy_name == "canary"
	count(canary_steps) == 0
	d := {"strategy": "canary", "steps": 0, "case": "no_partial_step", "path": "spec.strategy.canary.steps"}
	msg := sprintf("%s is a canary without steps: it goes straight to 100%s of traffic with no pause or analysis", [k8s.display, "%"])
}

violation contains {"msg": msg, "details": d} if {
	strategy_name == "canary"
	count(canary_steps) > 0
	not first_partial
	d := {"strategy": "canary", "first_partial_step": null, "case": "no_partial_step", "path": "spec.strategy.canary.steps"}
	msg := sprintf("%s is a canary whose steps never set a partial weight (setWeight between 1 and 99): no step exposes only part of the traffic to the new version", [k8s.display])
}

violation contains {"msg": msg, "details": d} if {
	strategy_name == "canary"
	i := first_partial
	not holds_between(i, full_weight_step)
	w := canary_steps[i].setWeight
	d := {
		"strategy": "canary",
		"first_partial_step": i,
		"first_partial_weight": w,
		"full_weight_step": full_weight_step,
		"case": "no_pause",
		"path": sprintf("spec.strategy.canary.steps[%d]", [i]),
	}
	msg := sprintf("%s moves from setWeight %v (steps[%d]) to full traffic with no pause or analysis step in between", [k8s.display, w, i])
}

# Index of the first step that sends part, not all, of the traffic to the canary.
first_partial := min(partial) if {
	partial := {i |
		some i, step in canary_steps
		partial_weight(step.setWeight)
	}
	count(partial) > 0
}

partial_weight(w) if {
	is_number(w)
	w > 0
	w < 100
}

# The first setWeight of 100 after the first partial weight, else the end of the steps.
full_weight_step := min(full) if {
	full := {i |
		some i, step in canary_steps
		i > first_partial
		is_number(step.setWeight)
		step.setWeight >= 100
	}
	count(full) > 0
} else := count(canary_steps)

holds_between(first, end) if {
	some j, step in canary_steps
	j > first
	j < end
	holds(step)
}

holds(step) if is_object(step.analysis)

holds(step) if experiment_with_analyses(step.experiment)

holds(step) if {
	is_object(step.pause)
	not zero_duration(object.get(step.pause, "duration", null))
}

zero_duration(d) if d == 0

zero_duration(d) if {
	is_string(d)
	regex.match(`^0+(s|m|h)?$`, d)
}

violation contains {"msg": msg, "details": d} if {
	strategy_name == "blueGreen"
	not has_pre_promotion_analysis
	auto := object.get(strategy, "autoPromotionEnabled", true)
	auto != false
	not auto_promotion_delayed
	d := {
		"strategy": "blueGreen",
		"auto_promotion_enabled": auto,
		"case": "auto_promotion",
		"path": "spec.strategy.blueGreen.autoPromotionEnabled",
	}
	msg := sprintf("%s is promoted to all traffic as soon as its pods are ready: it has no prePromotionAnalysis, and autoPromotionEnabled is not false", [k8s.display])
}

has_pre_promotion_analysis if is_object(strategy.prePromotionAnalysis)

auto_promotion_delayed if {
	is_number(strategy.autoPromotionSeconds)
	strategy.autoPromotionSeconds > 0
}

# --- Violations: abortScaleDownDelaySeconds -------------------------------------------------

# Unset means 30s. It applies to blueGreen and to canaries with traffic routing; a basic
# canary rolls back by a rolling update and ignores it.
abort_delay_applies if strategy_name == "blueGreen"

abort_delay_applies if {
	strategy_name == "canary"
	is_object(strategy.trafficRouting)
}

abort_delay_field := sprintf("spec.strategy.%s.abortScaleDownDelaySeconds", [strategy_name])

max_abort_delay := n if {
	n := input.parameters.max_abort_scale_down_delay_seconds
	is_number(n)
} else := 600

zero_abort_delay_allowed if input.parameters.allow_zero_abort_scale_down_delay == true

abort_details(v) := {
	"field": abort_delay_field,
	"value": v,
	"max_seconds": max_abort_delay,
	"case": "abort_delay",
	"path": abort_delay_field,
}

violation contains {"msg": msg, "details": abort_details(v)} if {
	abort_delay_applies
	v := strategy.abortScaleDownDelaySeconds
	v != null
	not is_number(v)
	msg := sprintf("%s has abortScaleDownDelaySeconds %s, which is not a number of seconds", [k8s.display, json.marshal(v)])
}

violation contains {"msg": msg, "details": abort_details(v)} if {
	abort_delay_applies
	v := strategy.abortScaleDownDelaySeconds
	v == 0
	not zero_abort_delay_allowed
	msg := sprintf("%s has abortScaleDownDelaySeconds 0: an aborted version is never scaled down and keeps running, and serving its consumers and jobs, until someone removes it", [k8s.display])
}

violation contains {"msg": msg, "details": abort_details(v)} if {
	abort_delay_applies
	v := strategy.abortScaleDownDelaySeconds
	is_number(v)
	v < 0
	msg := sprintf("%s has a negative abortScaleDownDelaySeconds (%v)", [k8s.display, v])
}

violation contains {"msg": msg, "details": abort_details(v)} if {
	abort_delay_applies
	v := strategy.abortScaleDownDelaySeconds
	is_number(v)
	v > max_abort_delay
	msg := sprintf("%s has abortScaleDownDelaySeconds %v, above the maximum of %v: an aborted version keeps its pods that long", [k8s.display, v, max_abort_delay])
}
