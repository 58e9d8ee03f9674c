# METADATA
# title: The simulated rollout meets the service's rollout objectives
# description: >-
#   rollguard.yaml's `slo:` sets rollout objectives for every environment,
#   `environments.<name>.slo` for one, and `services` below either of them per
#   workload (`namespace/name`, `Kind/name` or `name`, globs allowed): how long
#   a rollout may take (max_rollout_minutes), how long rolling back may take
#   (max_rollback_minutes) and how much serving capacity must stay available
#   (min_capacity_percent of the replicas). Each objective comes from the most
#   specific entry that sets it, the environment's over the top level and a
#   service's over its block. Compares them with the workload's simulated
#   rollout (input.simulation, docs/simulation.md). A rollout that waits for a
#   manual promotion has no end the files can tell, and is reported against a
#   rollout objective as such. Without objectives for a workload, it is left
#   alone. High: the objectives are rules the team set for the service, and a
#   rollout that breaks one is what they were written to stop.
# scope: package
# custom:
#   id: governance.rollout_slo
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.2", "ISO27001:A.8.32", "NIST-800-53:CP-10"]
#   remediation: >-
#     Make the rollout fit its objectives: more surge (maxSurge) for a shorter
#     rollout, less unavailability (maxUnavailable) for more capacity, a faster
#     start-up for both; `rollguard simulate --compare` shows what each
#     strategy costs. If the objective is wrong for the service, change it in
#     rollguard.yaml through review.
#   case_remediation:
#     not_simulated: >-
#       Make the rollout simulable so it can be held to its objectives:
#       {{ not_simulated }}.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout]
#   needs: [simulation]
#   example_allowed: |
#     # rollguard.yaml: slo: {max_rollout_minutes: 30, min_capacity_percent: 75}
#     apiVersion: apps/v1
#     kind: Deployment
#     spec:
#       replicas: 8
#       strategy: {rollingUpdate: {maxSurge: 2, maxUnavailable: 2}}
#   example_disallowed: |
#     # rollguard.yaml: slo: {min_capacity_percent: 90}
#     apiVersion: apps/v1
#     kind: Deployment
#     spec:
#       replicas: 4
#       strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 2}}
package rollguard.governance.rollout_slo

sim := input.simulation

# The layer that sets objective `key` for this workload: the last (highest precedence) that
# matches the workload and sets it; the layers come lowest precedence first.
chosen(key) := layers[count(layers) - 1] if {
	layers := [layer |
		some layer in data.rollguard.context.slo
		matches(layer.match)
		is_number(layer.objectives[key])
	]
	count(layers) > 0
}

matches(pattern) if pattern == null

matches(pattern) if {
	is_string(pattern)
	some name in [sprintf("%s/%s", [sim.namespace, sim.name]), sprintf("%s/%s", [sim.kind, sim.name]), sim.name]
	glob.match(pattern, ["/"], name)
}

environment := data.rollguard.context.environment.name

in_env := sprintf(" in %s", [environment]) if is_string(environment)

else := ""

violation contains {"msg": msg, "details": d} if {
	data.rollguard.context.slo[_]
	layer := chosen("max_rollout_minutes")
	limit := layer.objectives.max_rollout_minutes
	seconds := sim.duration_seconds
	is_number(seconds)
	seconds > limit * 60
	d := {"objective": "max_rollout_minutes", "limit_minutes": limit, "minutes": minutes(seconds), "from": layer.where, "rounds": sim.rounds}
	msg := sprintf("the rollout takes %v min (%v rounds) by the simulation, more than the %v min of %s%s", [minutes(seconds), sim.rounds, limit, layer.where, in_env])
}

violation contains {"msg": msg, "details": d} if {
	data.rollguard.context.slo[_]
	layer := chosen("max_rollout_minutes")
	sim.duration_seconds == null
	is_object(sim.unbounded)
	d := {"objective": "max_rollout_minutes", "limit_minutes": layer.objectives.max_rollout_minutes, "minutes": null, "from": layer.where, "unbounded": sim.unbounded}
	msg := sprintf("the rollout has no end the files can tell (%s), so it cannot be shown to meet the %v min of %s%s", [sim.unbounded.reason, layer.objectives.max_rollout_minutes, layer.where, in_env])
}

violation contains {"msg": msg, "details": d} if {
	data.rollguard.context.slo[_]
	layer := chosen("max_rollback_minutes")
	limit := layer.objectives.max_rollback_minutes
	seconds := sim.rollback_seconds
	is_number(seconds)
	seconds > limit * 60
	d := {"objective": "max_rollback_minutes", "limit_minutes": limit, "minutes": minutes(seconds), "from": layer.where}
	msg := sprintf("rolling back takes %v min by the simulation, more than the %v min of %s%s", [minutes(seconds), limit, layer.where, in_env])
}

violation contains {"msg": msg, "details": d} if {
	data.rollguard.context.slo[_]
	layer := chosen("min_capacity_percent")
	limit := layer.objectives.min_capacity_percent
	sim.replicas > 0
	percent := (sim.min_available * 100) / sim.replicas
	percent < limit
	d := {"objective": "min_capacity_percent", "limit_percent": limit, "percent": round(percent * 10) / 10, "min_available": sim.min_available, "replicas": sim.replicas, "from": layer.where}
	msg := sprintf("available pods drop to %v of %v (%v%%) during the rollout, below the %v%% of %s%s", [sim.min_available, sim.replicas, round(percent * 10) / 10, limit, layer.where, in_env])
}

# A workload with objectives that the simulation could not play: not judged, and said.
violation contains {"msg": msg, "details": d} if {
	data.rollguard.context.slo[_]
	reason := sim.not_simulated
	is_string(reason)
	some key in ["max_rollout_minutes", "max_rollback_minutes", "min_capacity_percent"]
	chosen(key)
	d := {"case": "not_simulated", "not_simulated": reason}
	msg := sprintf("not judged against the rollout objectives: the rollout could not be simulated: %s", [reason])
}

# Minutes to one decimal place, whole when they are.
minutes(seconds) := m if {
	m := round(seconds / 6) / 10
}
