# METADATA
# title: A team's rollouts stay within its quota in a shared environment
# description: >-
#   rollguard.yaml `quotas:` gives teams sharing an environment a budget for
#   rolling out: how many rollouts their namespaces may run at once
#   (max_concurrent_rollouts) and how much one change may add at the peak of
#   its rollouts there, beyond the replicas at rest (max_surge_pods,
#   max_surge_cpu, max_surge_memory of requests). Judged for --env: the
#   concurrent rollouts are this change and the rollouts the decision store
#   holds as started and not finished in the team's namespaces, each counted
#   until its simulated duration (else default_window_minutes) has passed;
#   the surge is summed over the simulated rollouts of the change's workloads
#   in those namespaces (data.rollguard.changeset.simulation,
#   docs/simulation.md), which all roll at once when applied together. A
#   workload the simulation could not play is reported as not judged. High:
#   the quota is the rule the teams agreed on for the shared environment, and
#   going past it takes capacity another team counted on.
# scope: package
# custom:
#   id: governance.team_quota
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.6", "NIST-800-53:CM-3"]
#   remediation: >-
#     Keep team {{ team }} within {{ where }} in rollguard.yaml: wait for the
#     team's other rollouts to finish, roll fewer workloads at once (`rollguard
#     plan order`), or lower maxSurge; change the quota itself through review.
#   case_remediation:
#     not_simulated: >-
#       Make the rollout of {{ workload }} simulable so it can be weighed
#       against {{ where }}: {{ not_simulated }}.
#   applies_to: [ChangeRequest]
#   needs: [simulation]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       default_window_minutes:
#         type: number
#         exclusiveMinimum: 0
#         default: 60
#         description: >-
#           How long a recorded rollout without a simulated duration counts as
#           running.
#   example_allowed: |
#     # rollguard.yaml: quotas: [{team: payments, namespaces: [shop], max_surge_pods: 4}]
#     # the change rolls one Deployment of shop, 3 replicas with maxSurge 1: 1 more pod (2 with
#     # the old one terminating)
#   example_disallowed: |
#     # rollguard.yaml: quotas: [{team: payments, namespaces: [shop], max_concurrent_rollouts: 1}]
#     # rollguard rollout start --id payments-42 --namespace shop --env prod, then a check of a
#     # change to shop for --env prod before payments-42 finishes
package rollguard.governance.team_quota

now := data.rollguard.context.now_ns

environment := data.rollguard.context.environment.name

quotas := [q | some q in object.get(data.rollguard.context, "quotas", []); is_object(q)]

default_window_minutes := m if {
	m := input.parameters.default_window_minutes
	is_number(m)
	m > 0
} else := 60

in_team(q, ns) if {
	is_string(ns)
	some pattern in q.namespaces
	glob.match(pattern, [], ns)
}

# The change's simulated workloads in the team's namespaces, and those it could not simulate.
rolled(q) := [s |
	some s in object.get(data.rollguard.changeset, "simulation", [])
	in_team(q, s.namespace)
	not s.not_simulated
]

# Rollouts of the store still running at the decision time in the team's namespaces.
running(q) := [r |
	some r in object.get(data.rollguard.context, "rollouts", [])
	is_number(r.started_ns)
	r.started_ns <= now
	now < r.started_ns + (window_seconds(r) * 1000000000)
	some ns in r.namespaces
	in_team(q, ns)
]

window_seconds(r) := r.duration_seconds if {
	is_number(r.duration_seconds)
	r.duration_seconds > 0
} else := default_window_minutes * 60

violation contains {"msg": msg, "details": d} if {
	some q in quotas
	limit := q.max_concurrent_rollouts
	count(rolled(q)) > 0
	ids := {r.id | some r in running(q)}
	total := count(ids) + 1
	total > limit
	d := {"case": "concurrent", "team": q.team, "where": q.where, "environment": environment, "limit": limit, "rollouts": total, "open": sort(ids)}
	msg := sprintf("team %s would run %v rollouts at once in %s (this change and %s), more than the %v of %s", [q.team, total, environment, concat(", ", sort(ids)), limit, q.where])
}

violation contains {"msg": msg, "details": d} if {
	some q in quotas
	some key, measure in surge_measures
	limit := q[key]
	workloads := rolled(q)
	count(workloads) > 0
	surge := sum([surge_of(s, measure) | some s in workloads])
	surge > limit + 0.000001
	d := {"case": "surge", "team": q.team, "where": q.where, "environment": environment, "quota": key, "limit": amount(measure, limit), "surge": amount(measure, surge), "workloads": [sprintf("%s %s/%s", [s.kind, s.namespace, s.name]) | some s in workloads]}
	msg := sprintf("the change's rollouts add %s at their peak in team %s's namespaces (%s), more than the %s of %s.%s", [amount(measure, surge), q.team, concat(", ", d.workloads), amount(measure, limit), q.where, key])
}

violation contains {"msg": msg, "details": d} if {
	some q in quotas
	some s in object.get(data.rollguard.changeset, "simulation", [])
	in_team(q, s.namespace)
	reason := s.not_simulated
	is_string(reason)
	workload := sprintf("%s %s/%s", [s.kind, s.namespace, s.name])
	d := {"case": "not_simulated", "team": q.team, "where": q.where, "workload": workload, "not_simulated": reason}
	msg := sprintf("not judged against %s (team %s): the rollout of %s could not be simulated: %s", [q.where, q.team, workload, reason])
}

surge_measures := {"max_surge_pods": "pods", "max_surge_cpu": "cpu", "max_surge_memory": "memory"}

surge_of(s, "pods") := s.peak_pods_with_terminating - s.replicas

surge_of(s, "cpu") := s.peak_requests.cpu - (s.pod_requests.cpu * s.replicas)

surge_of(s, "memory") := s.peak_requests.memory - (s.pod_requests.memory * s.replicas)

amount("pods", x) := sprintf("%v pods", [x])

amount("cpu", x) := sprintf("%v CPU", [round(x * 1000) / 1000])

amount("memory", x) := sprintf("%vMi", [round((x * 10) / 1048576) / 10])
