# METADATA
# title: One rollout at a time per namespace and dependency
# description: >-
#   Teams that share an environment record their rollouts in the decision store
#   (`rollguard rollout start|finish`, or `check --record --rollout-id ID`).
#   Reports each other rollout of this environment that is still open when the
#   change is checked: started, not finished, and started less than its
#   simulated duration ago (default_window_minutes when its duration is
#   unknown), which changes a namespace this change changes, or a workload one
#   of this change's workloads depends on (the `rollguard.io/depends-on`
#   annotation or rollguard.yaml `dependencies:`, as governance.dependency_order
#   reads them). The rollout this check starts (its --rollout-id) is not
#   another rollout. Without a decision store there is nothing to compare with,
#   and nothing is reported. Medium and warned by default: two rollouts at once
#   confuse whoever watches the dashboards and the rollback of either; set
#   `enforcement: {governance.concurrent_rollouts: deny}` (with a fail_on of
#   medium) to stop the second one.
# scope: package
# custom:
#   id: governance.concurrent_rollouts
#   severity: medium
#   enforcement: warn
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "ISO27001:A.8.32"]
#   remediation: >-
#     Wait until the other rollout finishes (`rollguard rollout finish`), or
#     coordinate with its owner; record your own rollout with --rollout-id so
#     other teams see it.
#   applies_to: [ChangeRequest]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       default_window_minutes:
#         type: number
#         exclusiveMinimum: 0
#         default: 60
#         description: >-
#           How long a rollout whose duration was not simulated counts as
#           running after its start when it records no finish.
#   example_allowed: |
#     # rollguard check k8s/ --env prod --store sqlite:///decisions.db
#     # team A's rollout in shop recorded `rollguard rollout finish`
#   example_disallowed: |
#     # rollguard check k8s/ --env prod --store sqlite:///decisions.db
#     # team A started rollout payments-42 in shop 5 minutes ago and has not finished
package rollguard.governance.concurrent_rollouts

import data.rollguard.lib.k8s

now := data.rollguard.context.now_ns

environment := data.rollguard.context.environment.name

annotation := "rollguard.io/depends-on"

default_window_minutes := m if {
	m := input.parameters.default_window_minutes
	is_number(m)
	m > 0
} else := 60

# Rollouts of the store still running at the decision time.
open contains r if {
	some r in object.get(data.rollguard.context, "rollouts", [])
	is_object(r)
	is_string(r.id)
	is_number(r.started_ns)
	r.started_ns <= now
	now < r.started_ns + (window_seconds(r) * 1000000000)
}

window_seconds(r) := r.duration_seconds if {
	is_number(r.duration_seconds)
	r.duration_seconds > 0
} else := default_window_minutes * 60

changed := [w | some w in input.artifact.workloads; is_object(w)]

violation contains {"msg": msg, "details": d} if {
	some r in open
	some ns in shared_namespaces(r)
	d := object.union(shown(r), {"namespace": ns})
	msg := sprintf("rollout %s%s is still open in %s namespace %s (started %s, %s); wait for it to finish (`rollguard rollout finish`) or coordinate with its owner", [r.id, by(r), environment, ns, r.started, until(r)])
}

violation contains {"msg": msg, "details": d} if {
	some r in open
	some w in changed
	some entry in depends_on(w)
	req := requirement(entry, w.namespace)
	some target in r.workloads
	target.namespace == req.namespace
	target.name == req.name
	not req.namespace in shared_namespaces(r)
	provider := sprintf("%s %s/%s", [target.kind, target.namespace, target.name])
	consumer := sprintf("%s %s/%s", [w.kind, w.namespace, w.name])
	d := object.union(shown(r), {"workload": consumer, "depends_on": provider, "source": sprintf("%s:%v", [w.file, w.line])})
	msg := sprintf("%s depends on %s, which rollout %s%s is still changing in %s (started %s, %s); wait for it to finish or coordinate with its owner", [consumer, provider, r.id, by(r), environment, r.started, until(r)])
}

shared_namespaces(r) := {ns |
	some ns in r.namespaces
	some w in changed
	w.namespace == ns
}

shown(r) := {"environment": environment, "rollout": r.id, "started": r.started, "actor": object.get(r, "actor", null)}

by(r) := sprintf(" by %s", [r.actor]) if is_string(r.actor) else := ""

until(r) := sprintf("simulated to take %v min", [round(r.duration_seconds / 6) / 10]) if {
	is_number(r.duration_seconds)
	r.duration_seconds > 0
} else := sprintf("no recorded duration: counted open for %v min", [default_window_minutes])

# What a workload of the change declares it needs: its annotation (object, then pod template)
# and rollguard.yaml `dependencies:` under `namespace/name` or `name`.
depends_on(w) := {trim_space(e) |
	some text in declared_texts(w)
	some e in split(text, ",")
	trim_space(e) != ""
}

declared_texts(w) := array.concat(annotations(w), configured(w))

annotations(w) := [v |
	some api
	obj := data.inventory.namespace[w.namespace][api][w.kind][w.name]
	v := annotation_of(obj)
]

# The object's own annotation wins over its pod template's, as in governance.dependency_order.
annotation_of(obj) := v if {
	v := obj.metadata.annotations[annotation]
	is_string(v)
} else := v if {
	v := k8s.pod_metadata(obj).annotations[annotation]
	is_string(v)
}

configured(w) := [e |
	deps := object.get(data.rollguard.context, "dependencies", {})
	some owner in [sprintf("%s/%s", [w.namespace, w.name]), w.name]
	some e in object.get(deps, owner, [])
	is_string(e)
]

entry_pattern := `^(?:([a-z0-9]([-a-z0-9.]*[a-z0-9])?)/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?:\s*>=\s*(\S+))?$`

requirement(text, namespace) := {"namespace": ns, "name": m[3]} if {
	[m] := regex.find_all_string_submatch_n(entry_pattern, text, 1)
	ns := given_or(m[1], namespace)
}

given_or(given, namespace) := given if given != "" else := namespace
