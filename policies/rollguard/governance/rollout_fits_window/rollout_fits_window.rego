# METADATA
# title: The rollout ends before the deployment window closes
# description: >-
#   A change deployed inside one of the environment's deployment windows
#   (rollguard.yaml `environments.<name>.windows`, judged for --env) must also
#   finish inside it: a rollout still replacing pods when the window closes
#   runs unattended, outside the hours the team staffed for it. Takes the
#   longest simulated rollout of the change (its workloads roll at the same
#   time when applied together; data.rollguard.changeset.simulation,
#   docs/simulation.md), adds margin_minutes, and compares the end with the
#   close of the window open now (the latest close when windows overlap). A
#   rollout that waits for a manual promotion has no end the files can tell and
#   is reported as such. Outside every window governance.deployment_window
#   reports the change, so this policy does not; without windows it is left
#   alone. Medium: the deploy itself is allowed, the risk is its tail.
# scope: package
# custom:
#   id: governance.rollout_fits_window
#   severity: medium
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Start earlier in the window, make the rollout shorter (more maxSurge, a
#     faster start-up; `rollguard simulate --compare` shows the options), or
#     split the change into waves (`rollguard plan order`) deployed in
#     separate windows.
#   case_remediation:
#     not_simulated: >-
#       Make the rollout of {{ workload }} simulable so it can be weighed
#       against the window: {{ not_simulated }}.
#   applies_to: [ChangeRequest]
#   needs: [simulation]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       margin_minutes:
#         type: number
#         minimum: 0
#         default: 0
#         description: >-
#           Minutes the rollout must leave before the window closes, for
#           checks after the rollout and a rollback if they fail.
#   example_allowed: |
#     # rollguard.yaml; rollguard check k8s/ --env prod --now 2026-11-24T10:00:00Z (a Tuesday)
#     environments:
#       prod:
#         windows: [{days: [mon, tue, wed, thu], from: "09:00", to: "16:00", timezone: Europe/Berlin}]
#     # the longest rollout of the change takes 20 minutes
#   example_disallowed: |
#     # rollguard.yaml; rollguard check k8s/ --env prod --now 2026-11-24T14:50:00Z
#     environments:
#       prod:
#         windows: [{days: [mon, tue, wed, thu], from: "09:00", to: "16:00", timezone: Europe/Berlin}]
#     # the longest rollout of the change takes 20 minutes: it would end at 16:10
package rollguard.governance.rollout_fits_window

now := data.rollguard.context.now_ns

environment := data.rollguard.context.environment

# Every open interval of every window that contains the decision time, with its window.
open_now := [[interval[1], w] |
	some w in object.get(environment, "windows", [])
	is_object(w)
	some interval in w.open_ns
	is_number(interval[0])
	is_number(interval[1])
	interval[0] <= now
	now < interval[1]
]

closes := max([c[0] | some c in open_now])

window := [c[1] | some c in open_now; c[0] == closes][0]

simulated := [s | some s in object.get(data.rollguard.changeset, "simulation", []); is_object(s)]

longest := max([s.duration_seconds | some s in simulated; is_number(s.duration_seconds)])

slowest := [s | some s in simulated; s.duration_seconds == longest][0]

margin := n if {
	n := input.parameters.margin_minutes
	is_number(n)
} else := 0

violation contains {"msg": msg, "details": d} if {
	count(open_now) > 0
	end := now + ((longest + (margin * 60)) * 1000000000)
	end > closes
	left := minutes((closes - now) / 1000000000)
	d := {
		"environment": environment.name,
		"window": window.display,
		"local_time": window.local_time,
		"minutes_left": left,
		"rollout_minutes": minutes(longest),
		"margin_minutes": margin,
		"workload": workload(slowest),
	}
	msg := sprintf("the rollout of %s takes %v min by the simulation%s, but the %s window (%s) closes in %v min", [workload(slowest), minutes(longest), margin_text, environment.name, window.display, left])
}

violation contains {"msg": msg, "details": d} if {
	count(open_now) > 0
	some s in simulated
	s.duration_seconds == null
	is_object(s.unbounded)
	d := {
		"environment": environment.name,
		"window": window.display,
		"minutes_left": minutes((closes - now) / 1000000000),
		"workload": workload(s),
		"unbounded": s.unbounded,
	}
	msg := sprintf("the rollout of %s has no end the files can tell (%s), so it cannot be shown to end before the %s window (%s) closes", [workload(s), s.unbounded.reason, environment.name, window.display])
}

violation contains {"msg": msg, "details": d} if {
	count(open_now) > 0
	some s in object.get(data.rollguard.changeset, "simulation", [])
	reason := s.not_simulated
	is_string(reason)
	d := {"case": "not_simulated", "environment": environment.name, "window": window.display, "workload": workload(s), "not_simulated": reason}
	msg := sprintf("not judged against the %s window (%s): the rollout of %s could not be simulated: %s", [environment.name, window.display, workload(s), reason])
}

workload(s) := sprintf("%s %s/%s", [s.kind, s.namespace, s.name])

margin_text := sprintf(" plus a margin of %v min", [margin]) if margin > 0

else := ""

minutes(seconds) := round(seconds / 6) / 10
