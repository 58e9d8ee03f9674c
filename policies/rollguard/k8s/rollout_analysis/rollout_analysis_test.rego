package rollguard.k8s.rollout_analysis_test

import data.rollguard.k8s.rollout_analysis
import data.rollguard.lib.testing

error_metric := {
	"name": "error-rate",
	"interval": "1m",
	"successCondition": "result[0] >= 0.99",
	"failureLimit": 1,
	"provider": {"prometheus": {"query": `sum(rate(http_requests_total{code!~"5.."}[2m])) / sum(rate(http_requests_total[2m]))`}},
}

latency_metric := {
	"name": "p99",
	"interval": "1m",
	"failureCondition": "result[0] > 0.5",
	"failureLimit": 0,
	"provider": {"prometheus": {"query": "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[2m])))"}},
}

template(name, metrics) := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "AnalysisTemplate",
	"metadata": {"name": name, "namespace": "shop"},
	"spec": {"metrics": metrics},
}

good_steps := [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"setWeight": 50}, {"pause": {"duration": "5m"}}]

canary(extra) := rollout({"canary": object.union({"analysis": {"templates": [{"templateName": "http-slo"}]}, "steps": good_steps}, extra)})

rollout(strategy) := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "Rollout",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"replicas": 3, "strategy": strategy},
}

cluster_inventory(templates) := {"cluster": {"argoproj.io/v1alpha1": {"ClusterAnalysisTemplate": {t.metadata.name: t | some t in templates}}}}

slo := template("http-slo", [error_metric, latency_metric])

test_canary_with_error_and_latency_analysis_passes if {
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", canary({}), {}) with data.inventory as testing.inventory([slo])
}

test_metrics_may_come_from_several_templates_and_steps if {
	r := canary({
		"analysis": {"templates": [{"templateName": "errors"}]},
		"steps": array.concat(good_steps, [{"analysis": {"templates": [{"templateName": "latency"}]}}]),
	})
	inv := testing.inventory([template("errors", [error_metric]), template("latency", [latency_metric])])
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", r, {}) with data.inventory as inv
}

test_cluster_scope_templates_resolve_from_the_cluster if {
	r := canary({"analysis": {"templates": [{"templateName": "http-slo", "clusterScope": true}]}})
	cluster_slo := object.union(slo, {"kind": "ClusterAnalysisTemplate", "metadata": {"name": "http-slo", "namespace": null}})
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", r, {}) with data.inventory as cluster_inventory([cluster_slo])

	# The namespaced template of the same name does not stand in for the cluster one.
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web references ClusterAnalysisTemplate http-slo, which is neither in the change nor in the inventory: its error-rate and latency conditions cannot be verified",
		"details": {
			"template": "ClusterAnalysisTemplate http-slo",
			"kind": "ClusterAnalysisTemplate",
			"referenced_in": ["spec.strategy.canary.analysis"],
			"case": "missing_template",
			"path": "spec.strategy.canary.analysis.templates[0].templateName",
		},
	}}
}

test_missing_template_is_reported_not_passed if {
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as {}
	v == {{
		"msg": "Rollout shop/web references AnalysisTemplate shop/http-slo, which is neither in the change nor in the inventory: its error-rate and latency conditions cannot be verified",
		"details": {
			"template": "AnalysisTemplate shop/http-slo",
			"kind": "AnalysisTemplate",
			"referenced_in": ["spec.strategy.canary.analysis"],
			"case": "missing_template",
			"path": "spec.strategy.canary.analysis.templates[0].templateName",
		},
	}}
}

test_template_of_another_namespace_does_not_count if {
	inv := {"namespace": {"other": {"argoproj.io/v1alpha1": {"AnalysisTemplate": {"http-slo": slo}}}}}
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as inv
	{x.details.template | some x in v} == {"AnalysisTemplate shop/http-slo"}
}

test_canary_without_analysis if {
	r := rollout({"canary": {"steps": good_steps}})
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as {}
	v == {{
		"msg": "Rollout shop/web has no automated analysis in its canary strategy (spec.strategy.canary.analysis or an analysis step): nothing rolls it back on an error-rate or latency breach",
		"details": {"strategy": "canary", "missing": "analysis", "case": "no_analysis", "path": "spec.strategy.canary.analysis"},
	}}
}

test_missing_latency_metric if {
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as testing.inventory([template("http-slo", [error_metric])])
	v == {{
		"msg": "Rollout shop/web has no latency metric in AnalysisTemplate shop/http-slo: nothing aborts it on a latency breach",
		"details": {
			"category": "latency",
			"templates": ["AnalysisTemplate shop/http-slo"],
			"metrics": [],
			"case": "metric_coverage",
			"path": "spec.strategy.canary.analysis.templates[0]",
		},
	}}
}

test_missing_error_metric if {
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as testing.inventory([template("http-slo", [latency_metric])])
	{x.details.category | some x in v} == {"errors"}
}

test_metric_without_failure_limit_or_condition if {
	bare := object.remove(error_metric, ["failureLimit", "successCondition"])
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as testing.inventory([template("http-slo", [bare, latency_metric])])
	v == {{
		"msg": `Rollout shop/web has no error-rate metric that can abort it: metric "error-rate" of AnalysisTemplate shop/http-slo: no failureLimit, no successCondition or failureCondition`,
		"details": {
			"category": "errors",
			"templates": ["AnalysisTemplate shop/http-slo"],
			"metrics": [{"template": "AnalysisTemplate shop/http-slo", "metric": "error-rate", "problems": ["no failureLimit", "no successCondition or failureCondition"]}],
			"case": "metric_coverage",
			"path": "spec.strategy.canary.analysis.templates[0]",
		},
	}}
}

test_failure_limit_zero_and_argument_count_as_set if {
	m := object.union(error_metric, {"failureLimit": "{{args.failure-limit}}"})
	inv := testing.inventory([template("http-slo", [m, latency_metric])])
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", canary({}), {}) with data.inventory as inv
}

test_failure_limit_not_below_count if {
	m := object.union(error_metric, {"failureLimit": 5, "count": 5})
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as testing.inventory([template("http-slo", [m, latency_metric])])
	{x.msg | some x in v} == {`Rollout shop/web has no error-rate metric that can abort it: metric "error-rate" of AnalysisTemplate shop/http-slo: failureLimit 5 not below count 5, so it can never fail`}
}

test_bad_failure_limit if {
	m := object.union(error_metric, {"failureLimit": -1})
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as testing.inventory([template("http-slo", [m, latency_metric])])
	{p | some x in v; some c in x.details.metrics; some p in c.problems} == {"failureLimit -1, not a non-negative count"}
}

test_dry_run_metric_does_not_count if {
	t := object.union(slo, {"spec": {"dryRun": [{"metricName": "p9.*"}]}})
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as testing.inventory([t])
	{p | some x in v; some c in x.details.metrics; some p in c.problems} == {"dry-run mode, so its result never aborts the rollout"}

	# The Rollout's own dryRun too; an invalid pattern is ignored rather than an error.
	r := canary({"analysis": {"templates": [{"templateName": "http-slo"}], "dryRun": [{"metricName": "error-rate"}, {"metricName": "("}]}})
	w := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	{x.details.category | some x in w} == {"errors"}
}

test_custom_patterns_and_categories if {
	m := object.union(object.remove(error_metric, ["provider"]), {"name": "golden-signal", "provider": {"web": {"url": "http://checker/ok"}}})
	inv := testing.inventory([template("http-slo", [m, latency_metric])])
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({}), {}) with data.inventory as inv
	{x.details.category | some x in v} == {"errors"}

	custom := object.union(testing.review_in("shop", canary({}), {}), {"parameters": {"error_metric_pattern": "golden"}})
	count(rollout_analysis.violation) == 0 with input as custom with data.inventory as inv

	latency_only := object.union(testing.review_in("shop", canary({}), {}), {"parameters": {"required_metric_categories": ["latency"]}})
	count(rollout_analysis.violation) == 0 with input as latency_only with data.inventory as inv
}

test_canary_without_steps if {
	r := rollout({"canary": {"analysis": {"templates": [{"templateName": "http-slo"}]}}})
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web is a canary without steps: it goes straight to 100% of traffic with no pause or analysis",
		"details": {"strategy": "canary", "steps": 0, "case": "no_partial_step", "path": "spec.strategy.canary.steps"},
	}}
}

test_canary_without_hold_before_full_weight if {
	steps := [{"setWeight": 20}, {"setWeight": 100}, {"pause": {"duration": "10m"}}]
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({"steps": steps}), {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web moves from setWeight 20 (steps[0]) to full traffic with no pause or analysis step in between",
		"details": {
			"strategy": "canary",
			"first_partial_step": 0,
			"first_partial_weight": 20,
			"full_weight_step": 1,
			"case": "no_pause",
			"path": "spec.strategy.canary.steps[0]",
		},
	}}
}

test_pause_before_first_partial_weight_or_of_zero_does_not_hold if {
	steps := [{"pause": {}}, {"setWeight": 20}, {"pause": {"duration": "0s"}}, {"setWeight": 60}]
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({"steps": steps}), {}) with data.inventory as testing.inventory([slo])
	{x.details | some x in v} == {{
		"strategy": "canary",
		"first_partial_step": 1,
		"first_partial_weight": 20,
		"full_weight_step": 4,
		"case": "no_pause",
		"path": "spec.strategy.canary.steps[1]",
	}}
}

test_indefinite_pause_and_analysis_steps_hold if {
	every steps in [
		[{"setWeight": 20}, {"pause": {}}],
		[{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "http-slo"}]}}, {"setWeight": 100}],
	] {
		count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", canary({"steps": steps}), {}) with data.inventory as testing.inventory([slo])
	}
}

test_canary_without_partial_weight if {
	steps := [{"pause": {"duration": "5m"}}, {"setWeight": 100}]
	v := rollout_analysis.violation with input as testing.review_in("shop", canary({"steps": steps}), {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web is a canary whose steps never set a partial weight (setWeight between 1 and 99): no step exposes only part of the traffic to the new version",
		"details": {"strategy": "canary", "first_partial_step": null, "case": "no_partial_step", "path": "spec.strategy.canary.steps"},
	}}
}

test_reference_without_template_name if {
	r := canary({"analysis": {"templates": [{"templateName": "http-slo"}, {"clusterScope": true}]}})
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web has an analysis template reference without a templateName in spec.strategy.canary.analysis.templates[1]",
		"details": {"field": "spec.strategy.canary.analysis.templates[1]", "reference": {"clusterScope": true}, "case": "reference_without_name", "path": "spec.strategy.canary.analysis.templates[1]"},
	}}
}

test_analysis_without_templates if {
	r := canary({"analysis": {"templates": []}})
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web has an analysis in spec.strategy.canary.analysis that references no AnalysisTemplate, so it measures nothing",
		"details": {"field": "spec.strategy.canary.analysis", "templates": [], "case": "no_templates", "path": "spec.strategy.canary.analysis.templates"},
	}}
}

blue_green(extra) := rollout({"blueGreen": object.union(
	{"activeService": "web", "previewService": "web-preview", "prePromotionAnalysis": {"templates": [{"templateName": "http-slo"}]}},
	extra,
)})

test_blue_green_with_pre_promotion_analysis_passes if {
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", blue_green({}), {}) with data.inventory as testing.inventory([slo])
}

test_blue_green_without_analysis if {
	r := rollout({"blueGreen": {"activeService": "web", "autoPromotionEnabled": false}})
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as {}
	v == {{
		"msg": "Rollout shop/web has no automated analysis in its blueGreen strategy (prePromotionAnalysis or postPromotionAnalysis): nothing rolls it back on an error-rate or latency breach",
		"details": {"strategy": "blueGreen", "missing": "analysis", "case": "no_analysis", "path": "spec.strategy.blueGreen.prePromotionAnalysis"},
	}}
}

test_blue_green_post_promotion_only_needs_a_hold if {
	r := rollout({"blueGreen": {"activeService": "web", "postPromotionAnalysis": {"templates": [{"templateName": "http-slo"}]}}})
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web is promoted to all traffic as soon as its pods are ready: it has no prePromotionAnalysis, and autoPromotionEnabled is not false",
		"details": {"strategy": "blueGreen", "auto_promotion_enabled": true, "case": "auto_promotion", "path": "spec.strategy.blueGreen.autoPromotionEnabled"},
	}}

	manual := rollout({"blueGreen": {"activeService": "web", "autoPromotionEnabled": false, "postPromotionAnalysis": {"templates": [{"templateName": "http-slo"}]}}})
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", manual, {}) with data.inventory as testing.inventory([slo])
}

test_blue_green_metrics_are_checked_too if {
	v := rollout_analysis.violation with input as testing.review_in("shop", blue_green({}), {}) with data.inventory as testing.inventory([template("http-slo", [latency_metric])])
	{x.details.category | some x in v} == {"errors"}
}

test_abort_scale_down_delay if {
	ok := [blue_green({"abortScaleDownDelaySeconds": 30}), blue_green({"abortScaleDownDelaySeconds": 600}), canary({"trafficRouting": {"nginx": {}}, "abortScaleDownDelaySeconds": 60})]
	every r in ok {
		count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	}

	v := rollout_analysis.violation with input as testing.review_in("shop", blue_green({"abortScaleDownDelaySeconds": 3600}), {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web has abortScaleDownDelaySeconds 3600, above the maximum of 600: an aborted version keeps its pods that long",
		"details": {
			"field": "spec.strategy.blueGreen.abortScaleDownDelaySeconds",
			"value": 3600,
			"max_seconds": 600,
			"case": "abort_delay",
			"path": "spec.strategy.blueGreen.abortScaleDownDelaySeconds",
		},
	}}
}

test_abort_scale_down_delay_zero if {
	r := canary({"trafficRouting": {"nginx": {}}, "abortScaleDownDelaySeconds": 0})
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web has abortScaleDownDelaySeconds 0: an aborted version is never scaled down and keeps running, and serving its consumers and jobs, until someone removes it",
		"details": {
			"field": "spec.strategy.canary.abortScaleDownDelaySeconds",
			"value": 0,
			"max_seconds": 600,
			"case": "abort_delay",
			"path": "spec.strategy.canary.abortScaleDownDelaySeconds",
		},
	}}

	allowed := object.union(testing.review_in("shop", r, {}), {"parameters": {"allow_zero_abort_scale_down_delay": true}})
	count(rollout_analysis.violation) == 0 with input as allowed with data.inventory as testing.inventory([slo])
}

test_abort_scale_down_delay_malformed_and_parameter if {
	v := rollout_analysis.violation with input as testing.review_in("shop", blue_green({"abortScaleDownDelaySeconds": "30s"}), {}) with data.inventory as testing.inventory([slo])
	{x.msg | some x in v} == {`Rollout shop/web has abortScaleDownDelaySeconds "30s", which is not a number of seconds`}

	w := rollout_analysis.violation with input as testing.review_in("shop", blue_green({"abortScaleDownDelaySeconds": -5}), {}) with data.inventory as testing.inventory([slo])
	{x.msg | some x in w} == {"Rollout shop/web has a negative abortScaleDownDelaySeconds (-5)"}

	strict := object.union(testing.review_in("shop", blue_green({"abortScaleDownDelaySeconds": 120}), {}), {"parameters": {"max_abort_scale_down_delay_seconds": 60}})
	u := rollout_analysis.violation with input as strict with data.inventory as testing.inventory([slo])
	{x.details | some x in u} == {{
		"field": "spec.strategy.blueGreen.abortScaleDownDelaySeconds",
		"value": 120,
		"max_seconds": 60,
		"case": "abort_delay",
		"path": "spec.strategy.blueGreen.abortScaleDownDelaySeconds",
	}}
}

test_basic_canary_ignores_abort_scale_down_delay if {
	r := canary({"abortScaleDownDelaySeconds": 0})
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
}

test_other_kinds_and_strategies_are_ignored if {
	d := object.union(canary({}), {"kind": "Deployment", "apiVersion": "apps/v1"})
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", d, {}) with data.inventory as {}

	no_strategy := rollout({})
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", no_strategy, {}) with data.inventory as {}
}

test_malformed_documents_do_not_error if {
	every r in [
		rollout({"canary": {"steps": "fast", "analysis": {"templates": "http-slo"}}}),
		rollout({"canary": {"steps": [1, null, {"setWeight": "20"}], "analysis": {"templates": [1]}}}),
		rollout({"blueGreen": {"prePromotionAnalysis": {"templates": [{"templateName": 7}]}, "autoPromotionEnabled": "no"}}),
	] {
		v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([template("http-slo", [1, {"name": 2}, {"name": "x", "provider": "y"}])])
		count(v) > 0
	}
}

experiment_step(analyses) := {"experiment": {
	"duration": "10m",
	"templates": [{"name": "canary", "specRef": "canary"}],
	"analyses": analyses,
}}

test_experiment_step_with_analyses_is_analysis_and_hold if {
	steps := [{"setWeight": 20}, experiment_step([{"name": "slo", "templateName": "http-slo"}]), {"setWeight": 100}]
	r := rollout({"canary": {"steps": steps}})
	count(rollout_analysis.violation) == 0 with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])

	# Its analyses are judged like any other: here the template lacks a latency metric.
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([template("http-slo", [error_metric])])
	v == {{
		"msg": "Rollout shop/web has no latency metric in AnalysisTemplate shop/http-slo: nothing aborts it on a latency breach",
		"details": {
			"category": "latency",
			"templates": ["AnalysisTemplate shop/http-slo"],
			"metrics": [],
			"case": "metric_coverage",
			"path": "spec.strategy.canary.steps[1].experiment.analyses[0]",
		},
	}}
}

test_experiment_step_references_must_resolve if {
	steps := [{"setWeight": 20}, experiment_step([{"name": "slo", "templateName": "http-slo", "clusterScope": true}])]
	v := rollout_analysis.violation with input as testing.review_in("shop", rollout({"canary": {"steps": steps}}), {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web references ClusterAnalysisTemplate http-slo, which is neither in the change nor in the inventory: its error-rate and latency conditions cannot be verified",
		"details": {
			"template": "ClusterAnalysisTemplate http-slo",
			"kind": "ClusterAnalysisTemplate",
			"referenced_in": ["spec.strategy.canary.steps[1].experiment"],
			"case": "missing_template",
			"path": "spec.strategy.canary.steps[1].experiment.analyses[0].templateName",
		},
	}}
}

test_experiment_step_without_analyses_neither_analyses_nor_holds if {
	# The experiment's `templates` are ReplicaSet specs, not AnalysisTemplates.
	steps := [{"setWeight": 20}, {"experiment": {"duration": "10m", "templates": [{"name": "canary", "specRef": "canary"}]}}, {"setWeight": 100}]
	v := rollout_analysis.violation with input as testing.review_in("shop", rollout({"canary": {"steps": steps}}), {}) with data.inventory as testing.inventory([slo])
	v == {
		{
			"msg": "Rollout shop/web has no automated analysis in its canary strategy (spec.strategy.canary.analysis or an analysis step): nothing rolls it back on an error-rate or latency breach",
			"details": {"strategy": "canary", "missing": "analysis", "case": "no_analysis", "path": "spec.strategy.canary.analysis"},
		},
		{
			"msg": "Rollout shop/web moves from setWeight 20 (steps[0]) to full traffic with no pause or analysis step in between",
			"details": {
			"strategy": "canary",
			"first_partial_step": 0,
			"first_partial_weight": 20,
			"full_weight_step": 2,
			"case": "no_pause",
			"path": "spec.strategy.canary.steps[0]",
		},
		},
	}

	empty := [{"setWeight": 20}, experiment_step([])]
	w := rollout_analysis.violation with input as testing.review_in("shop", rollout({"canary": {"steps": empty}}), {}) with data.inventory as testing.inventory([slo])
	{x.details | some x in w} == {
		{"strategy": "canary", "missing": "analysis", "case": "no_analysis", "path": "spec.strategy.canary.analysis"},
		{
			"strategy": "canary",
			"first_partial_step": 0,
			"first_partial_weight": 20,
			"full_weight_step": 2,
			"case": "no_pause",
			"path": "spec.strategy.canary.steps[0]",
		},
	}
}

test_experiment_step_reference_without_template_name if {
	steps := [{"setWeight": 20}, experiment_step([{"name": "slo", "templateName": "http-slo"}, {"name": "other"}])]
	v := rollout_analysis.violation with input as testing.review_in("shop", rollout({"canary": {"steps": steps}}), {}) with data.inventory as testing.inventory([slo])
	v == {{
		"msg": "Rollout shop/web has an analysis template reference without a templateName in spec.strategy.canary.steps[1].experiment.analyses[1]",
		"details": {"field": "spec.strategy.canary.steps[1].experiment.analyses[1]", "reference": {"name": "other"}, "case": "reference_without_name", "path": "spec.strategy.canary.steps[1].experiment.analyses[1]"},
	}}
}

test_experiment_step_dry_run_applies_to_its_metrics if {
	step := object.union(experiment_step([{"name": "slo", "templateName": "http-slo"}]), {"experiment": {"dryRun": [{"metricName": "p99"}]}})
	r := rollout({"canary": {"steps": [{"setWeight": 20}, step]}})
	v := rollout_analysis.violation with input as testing.review_in("shop", r, {}) with data.inventory as testing.inventory([slo])
	{x.details.category | some x in v} == {"latency"}
	{p | some x in v; some c in x.details.metrics; some p in c.problems} == {"dry-run mode, so its result never aborts the rollout"}
}
