# METADATA
# title: Deployments happen inside the environment's windows and outside its freezes
# description: >-
#   An environment in rollguard.yaml can have deployment windows (weekdays and
#   a time range in a time zone) and freezes (whole days with a reason).
#   Judges the change to the environment selected with --env at the decision
#   time (data.rollguard.context.now_ns, so `--now` reproduces a decision):
#   reports a change inside a freeze, and a change outside every window. An
#   environment without windows is always open. rollguard works out in which
#   UTC intervals each window is open (daylight saving included); the policy
#   only compares the decision time with them. High: windows and freezes are
#   rules the team configured for the environment, and a deploy outside them is
#   exactly what they forbid.
# scope: package
# custom:
#   id: governance.deployment_window
#   severity: high
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "ISO27001:A.8.32"]
#   remediation: >-
#     Deploy inside one of the environment's windows and after the freeze ends,
#     or change the windows and freezes in rollguard.yaml through review. With
#     approval_overrides_window, an approved change (--approval) may deploy
#     outside the windows, never inside a freeze.
#   applies_to: [ChangeRequest]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       approval_overrides_window:
#         type: boolean
#         default: false
#         description: >-
#           Whether a change with a change-approval reference may deploy outside
#           the windows (an approved emergency change). Freezes still apply.
#   example_allowed: |
#     # rollguard.yaml; rollguard check k8s/ --env prod --now 2026-11-24T10:00:00Z (a Tuesday)
#     environments:
#       prod:
#         windows: [{days: [mon, tue, wed, thu], from: "09:00", to: "16:00", timezone: Europe/Berlin}]
#   example_disallowed: |
#     # rollguard.yaml; rollguard check k8s/ --env prod --now 2026-12-22T10:00:00Z
#     environments:
#       prod:
#         freezes: [{from: 2026-12-20, to: 2027-01-04, reason: year-end freeze, timezone: Europe/Berlin}]
package rollguard.governance.deployment_window

now := data.rollguard.context.now_ns

environment := data.rollguard.context.environment

windows := [w |
	some w in object.get(environment, "windows", [])
	is_object(w)
]

violation contains {"msg": msg, "details": d} if {
	some f in object.get(environment, "freezes", [])
	inside(f.start_ns, f.end_ns)
	d := {
		"environment": environment.name,
		"local_time": f.local_time,
		"freeze": {"from": f.from, "to": f.to, "reason": f.reason, "timezone": f.timezone},
	}
	msg := sprintf("deploying to %s at %s falls in the freeze from %s to %s (%s): %s", [environment.name, f.local_time, f.from, f.to, f.timezone, f.reason])
}

violation contains {"msg": msg, "details": d} if {
	count(windows) > 0
	not open
	not approved_override
	shown := [sprintf("%s (it is %s there)", [w.display, w.local_time]) | some w in windows]
	d := {"environment": environment.name, "windows": [w.display | some w in windows], "local_times": [w.local_time | some w in windows]}
	msg := sprintf("deploying to %s outside its deployment windows: %s", [environment.name, concat("; ", shown)])
}

open if {
	some w in windows
	some interval in w.open_ns
	inside(interval[0], interval[1])
}

inside(start, end) if {
	is_number(start)
	is_number(end)
	start <= now
	now < end
}

approved_override if {
	input.parameters.approval_overrides_window == true
	reference := input.artifact.approval.reference
	is_string(reference)
	reference != ""
}
