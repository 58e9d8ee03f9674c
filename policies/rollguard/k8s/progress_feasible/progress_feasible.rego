# METADATA
# title: One rollout round fits in the progress deadline
# description: >-
#   The Deployment controller (and Argo Rollouts) marks a rollout failed
#   (Progressing=False, ProgressDeadlineExceeded) when it has made no progress
#   for progressDeadlineSeconds, and progress is a new pod becoming available.
#   Each round of a rolling update waits for new pods to start and then stay
#   Ready for minReadySeconds; when one round (start-up + minReadySeconds) is
#   longer than the deadline, every rollout is reported failed before its first
#   new pod is available, and pipelines, Argo CD and Helm --wait roll back or
#   page on a rollout that was only slow. Reads the rollout simulation
#   (input.simulation, docs/simulation.md): the start-up is the annotation
#   rollguard.io/startup-seconds, the config's simulation.startup_seconds, or
#   derived from the probes plus an image pull allowance, in that order; the
#   deadline is spec.progressDeadlineSeconds, else the 600 seconds apps/v1 and
#   Argo Rollouts default it to. Deployments of extensions/v1beta1 and
#   apps/v1beta1 without the field have no deadline and are left alone, and so
#   are paused rollouts, which the deadline does not run for. Needs the
#   simulation, so it runs in rollguard check and the webhook, not in the
#   Gatekeeper tree. High severity: such a rollout fails every time, so the
#   change cannot be delivered as written.
# scope: package
# custom:
#   id: k8s.progress_feasible
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:CC7.2", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Raise spec.progressDeadlineSeconds above {{ round_seconds }} seconds (one
#     round: start-up {{ startup_seconds }} s plus minReadySeconds {{ min_ready_seconds }} s)
#     with room to spare, or shorten the round: a faster start-up (probes, image
#     size) or a lower minReadySeconds. If the start-up is an estimate, set the
#     measured one in the annotation rollguard.io/startup-seconds.
#   case_remediation:
#     not_simulated: >-
#       Make the rollout simulable so it can be judged: {{ not_simulated }}.
#       `rollguard simulate` on the same files says the same.
#   applies_to: [Deployment, Rollout]
#   needs: [simulation]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       margin_seconds:
#         type: integer
#         minimum: 0
#         default: 0
#         description: >-
#           Seconds a round must leave before the deadline: a start-up that
#           varies from rollout to rollout needs some.
#   example_allowed: |
#     apiVersion: apps/v1
#     kind: Deployment
#     spec:
#       progressDeadlineSeconds: 600
#       minReadySeconds: 10
#       template:
#         metadata:
#           annotations:
#             rollguard.io/startup-seconds: "60"
#   example_disallowed: |
#     apiVersion: apps/v1
#     kind: Deployment
#     spec:
#       progressDeadlineSeconds: 120
#       minReadySeconds: 30
#       template:
#         metadata:
#           annotations:
#             rollguard.io/startup-seconds: "180"
package rollguard.k8s.progress_feasible

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": details} if {
	sim := input.simulation
	startup := whole(sim.pod_seconds.startup)
	min_ready := whole(sim.pod_seconds.min_ready)
	not k8s.obj.spec.paused == true
	deadline := deadline_seconds
	round := startup + min_ready
	round + margin_seconds > deadline
	details := {
		"round_seconds": round,
		"startup_seconds": startup,
		"min_ready_seconds": min_ready,
		"progress_deadline_seconds": deadline,
		"deadline_from": deadline_source,
		"margin_seconds": margin_seconds,
		"estimates": [e | some e in sim.estimates; startswith(e, "start-up")],
		"path": "spec.progressDeadlineSeconds",
	}
	msg := sprintf(
		"one rollout round takes %v s (start-up %v s + minReadySeconds %v s)%s, longer than %s%s: every rollout is marked failed (ProgressDeadlineExceeded) before a new pod is available",
		[round, startup, min_ready, estimated, deadline_text, margin_text],
	)
}

# A workload the simulation could not play is not judged fine: it is reported, where a deadline
# applies, with why.
violation contains {"msg": msg, "details": details} if {
	reason := input.simulation.not_simulated
	is_string(reason)
	not k8s.obj.spec.paused == true
	deadline_seconds
	details := {"case": "not_simulated", "not_simulated": reason, "progress_deadline_seconds": deadline_seconds}
	msg := sprintf("not judged: the rollout could not be simulated: %s", [reason])
}

# The deadline in force: the field when it is a number, else the default of apps/v1 (and
# apps/v1beta2) and Argo Rollouts. Old API versions default it to none: nothing to exceed.
deadline_seconds := d if {
	d := k8s.obj.spec.progressDeadlineSeconds
	is_number(d)
} else := 600 if {
	object.get(k8s.obj.spec, "progressDeadlineSeconds", null) == null
	not k8s.obj.apiVersion in {"extensions/v1beta1", "apps/v1beta1"}
}

deadline_source := "spec" if {
	is_number(k8s.obj.spec.progressDeadlineSeconds)
} else := "default"

deadline_text := sprintf("progressDeadlineSeconds %v", [deadline_seconds]) if {
	deadline_source == "spec"
} else := sprintf("the default progressDeadlineSeconds of %v", [deadline_seconds])

# Seconds as the simulation gives them (JSON numbers such as 240.0), whole when they are, so
# messages and fixes read 240 rather than 240.0.
whole(x) := round(x) if {
	is_number(x)
	round(x) == x
} else := x if is_number(x)

# Says so when the start-up was not measured (no annotation, no config): the simulation then
# derived it from the probes, and the finding is only as good as they are.
estimated := " (start-up estimated from the probes)" if {
	some e in input.simulation.estimates
	startswith(e, "start-up")
} else := ""

margin_text := sprintf(" less a margin of %v s", [margin_seconds]) if margin_seconds > 0

else := ""

margin_seconds := n if {
	n := input.parameters.margin_seconds
	is_number(n)
} else := 0
