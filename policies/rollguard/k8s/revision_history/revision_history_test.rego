package rollguard.k8s.revision_history_test

import data.rollguard.k8s.revision_history
import data.rollguard.lib.testing

workload(kind, spec) := {
	"apiVersion": "apps/v1",
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": object.union({"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}, spec),
}

parameters := {"min_revisions": 2}

test_zero_limit_is_reported if {
	v := revision_history.violation with input as testing.review(workload("Deployment", {"revisionHistoryLimit": 0}), parameters)
	v == {{
		"msg": "revisionHistoryLimit is 0, below the minimum of 2: too few earlier revisions are kept to roll back to",
		"details": {"revision_history_limit": 0, "min_revisions": 2, "path": "spec.revisionHistoryLimit"},
	}}
}

test_every_kind_is_judged if {
	every kind in ["Deployment", "StatefulSet", "DaemonSet", "Rollout"] {
		v := revision_history.violation with input as testing.review(workload(kind, {"revisionHistoryLimit": 1}), parameters)
		{x.details | some x in v} == {{"revision_history_limit": 1, "min_revisions": 2, "path": "spec.revisionHistoryLimit"}}
	}
}

test_unset_and_sufficient_limits_pass if {
	count(revision_history.violation) == 0 with input as testing.review(workload("Deployment", {}), parameters)
	count(revision_history.violation) == 0 with input as testing.review(workload("Deployment", {"revisionHistoryLimit": null}), parameters)
	count(revision_history.violation) == 0 with input as testing.review(workload("StatefulSet", {"revisionHistoryLimit": 2}), parameters)
}

test_min_revisions_parameter if {
	inp := object.union(testing.review(workload("Deployment", {"revisionHistoryLimit": 3}), parameters), {"parameters": {"min_revisions": 5}})
	v := revision_history.violation with input as inp
	{x.details | some x in v} == {{"revision_history_limit": 3, "min_revisions": 5, "path": "spec.revisionHistoryLimit"}}

	relaxed := object.union(testing.review(workload("Deployment", {"revisionHistoryLimit": 0}), parameters), {"parameters": {"min_revisions": 0}})
	count(revision_history.violation) == 0 with input as relaxed
}

test_malformed_limit_raises_no_error if {
	count(revision_history.violation) == 0 with input as testing.review(workload("Deployment", {"revisionHistoryLimit": "0"}), parameters)
	count(revision_history.violation) == 0 with input as testing.review({"kind": "Deployment", "metadata": {"name": "web"}, "spec": "x"}, parameters)
}
