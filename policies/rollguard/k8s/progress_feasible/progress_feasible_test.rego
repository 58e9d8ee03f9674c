package rollguard.k8s.progress_feasible_test

import data.rollguard.k8s.progress_feasible
import data.rollguard.lib.testing

workload(kind, spec) := {
	"apiVersion": api_version(kind),
	"kind": kind,
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": object.union({"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}, spec),
}

api_version("Rollout") := "argoproj.io/v1alpha1"

api_version(kind) := "apps/v1" if kind != "Rollout"

# The part of the simulation the policy reads (`rollguard simulate --format json`, docs/simulation.md).
simulation(startup, min_ready, estimates) := {
	"kind": "Deployment",
	"namespace": "shop",
	"name": "web",
	"pod_seconds": {"startup": startup, "min_ready": min_ready, "termination": 30.0, "image_pull": 0.0},
	"estimates": estimates,
}

judged(obj, sim, parameters) := object.union(testing.review(obj, parameters), {"simulation": sim})

measured(startup, min_ready) := simulation(startup, min_ready, ["termination within the 30 s grace period"])

test_round_within_the_deadline_passes if {
	every kind in ["Deployment", "Rollout"] {
		obj := workload(kind, {"progressDeadlineSeconds": 600, "minReadySeconds": 10})
		count(progress_feasible.violation) == 0 with input as judged(obj, measured(60.0, 10.0), {})

		# Exactly at the deadline the controller has seen progress in time.
		count(progress_feasible.violation) == 0 with input as judged(obj, measured(590.0, 10.0), {})
	}
}

test_round_longer_than_the_deadline_is_reported if {
	obj := workload("Deployment", {"progressDeadlineSeconds": 180, "minReadySeconds": 60})
	v := progress_feasible.violation with input as judged(obj, measured(240.0, 60.0), {})
	v == {{
		"msg": "one rollout round takes 300 s (start-up 240 s + minReadySeconds 60 s), longer than progressDeadlineSeconds 180: every rollout is marked failed (ProgressDeadlineExceeded) before a new pod is available",
		"details": {
			"round_seconds": 300,
			"startup_seconds": 240,
			"min_ready_seconds": 60,
			"progress_deadline_seconds": 180,
			"deadline_from": "spec",
			"margin_seconds": 0,
			"estimates": [],
			"path": "spec.progressDeadlineSeconds",
		},
	}}
}

test_unset_deadline_is_the_default_600 if {
	every kind in ["Deployment", "Rollout"] {
		obj := workload(kind, {})
		count(progress_feasible.violation) == 0 with input as judged(obj, measured(600.0, 0.0), {})
		v := progress_feasible.violation with input as judged(obj, measured(610.5, 0.0), {})
		v == {{
			"msg": "one rollout round takes 610.5 s (start-up 610.5 s + minReadySeconds 0 s), longer than the default progressDeadlineSeconds of 600: every rollout is marked failed (ProgressDeadlineExceeded) before a new pod is available",
			"details": {
				"round_seconds": 610.5,
				"startup_seconds": 610.5,
				"min_ready_seconds": 0,
				"progress_deadline_seconds": 600,
				"deadline_from": "default",
				"margin_seconds": 0,
				"estimates": [],
				"path": "spec.progressDeadlineSeconds",
			},
		}}
	}
}

test_a_start_up_derived_from_probes_says_so if {
	estimate := "start-up 600 s from container app's readinessProbe (initialDelaySeconds 600 + periodSeconds 10 × successThreshold 1), plus 10 s to pull the image (an allowance)"
	obj := workload("Deployment", {"progressDeadlineSeconds": 600})
	v := progress_feasible.violation with input as judged(obj, simulation(620.0, 0.0, [estimate, "termination within the 30 s grace period"]), {})
	some f in v
	f.msg == "one rollout round takes 620 s (start-up 620 s + minReadySeconds 0 s) (start-up estimated from the probes), longer than progressDeadlineSeconds 600: every rollout is marked failed (ProgressDeadlineExceeded) before a new pod is available"
	f.details.estimates == [estimate]
	count(v) == 1
}

test_margin_is_required_before_the_deadline if {
	obj := workload("Deployment", {"progressDeadlineSeconds": 300})
	count(progress_feasible.violation) == 0 with input as judged(obj, measured(250.0, 0.0), {})
	v := progress_feasible.violation with input as judged(obj, measured(250.0, 0.0), {"margin_seconds": 60})
	some f in v
	f.msg == "one rollout round takes 250 s (start-up 250 s + minReadySeconds 0 s), longer than progressDeadlineSeconds 300 less a margin of 60 s: every rollout is marked failed (ProgressDeadlineExceeded) before a new pod is available"
	f.details.margin_seconds == 60
}

test_no_deadline_no_pause_and_no_simulation_are_left_alone if {
	# Old API versions default the field to no deadline at all.
	old := object.union(workload("Deployment", {}), {"apiVersion": "extensions/v1beta1"})
	count(progress_feasible.violation) == 0 with input as judged(old, measured(5000.0, 0.0), {})

	# A paused rollout is not held to its deadline.
	paused := workload("Deployment", {"progressDeadlineSeconds": 60, "paused": true})
	count(progress_feasible.violation) == 0 with input as judged(paused, measured(300.0, 0.0), {})

	# Without a simulation (a workload the simulation could not read) there is nothing to judge.
	obj := workload("Deployment", {"progressDeadlineSeconds": 60})
	count(progress_feasible.violation) == 0 with input as testing.review(obj, {})
}

test_a_workload_the_simulation_could_not_play_is_not_judged_fine if {
	obj := workload("Rollout", {"progressDeadlineSeconds": 300})
	sim := {"kind": "Rollout", "namespace": "shop", "name": "web", "not_simulated": "spec.workloadRef names Deployment 'web-template', which is not in the change; pass its manifest too"}
	progress_feasible.violation == {{
		"msg": "not judged: the rollout could not be simulated: spec.workloadRef names Deployment 'web-template', which is not in the change; pass its manifest too",
		"details": {"case": "not_simulated", "not_simulated": "spec.workloadRef names Deployment 'web-template', which is not in the change; pass its manifest too", "progress_deadline_seconds": 300},
	}} with input as judged(obj, sim, {})

	# Where no deadline runs (paused, or an old API version without the field) there is nothing to judge.
	paused := workload("Rollout", {"paused": true})
	count(progress_feasible.violation) == 0 with input as judged(paused, sim, {})
	old := object.union(workload("Deployment", {}), {"apiVersion": "extensions/v1beta1"})
	count(progress_feasible.violation) == 0 with input as judged(old, sim, {})
}
