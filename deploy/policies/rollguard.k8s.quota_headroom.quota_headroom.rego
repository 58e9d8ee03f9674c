# METADATA
# title: The namespace's quota has room for the rollout's surge
# description: >-
#   A ResourceQuota counts every pod of its namespace, the surge pods of a
#   rollout and the old pods still terminating included. When the pods already
#   running plus the peak of every workload the change rolls in that namespace
#   at once exceed a quota's hard limit, the ReplicaSet controller's new pods
#   are refused with "exceeded quota" and the rollout stalls half done until its
#   progress deadline fails it. Reads the rollout simulation (input.simulation
#   and data.rollguard.changeset.simulation, docs/simulation.md): per workload,
#   the most pods present at once (peak_pods_with_terminating) and one pod's
#   requests and limits, with the namespace's LimitRange defaults filled in for
#   containers that set none, as its admission plugin does. The running pods
#   are the namespace's Pods in the inventory (the cluster's, when connected)
#   that no rolled workload selects, since the simulation counts those
#   workloads' old pods itself; Succeeded and Failed pods are left out, as the
#   quota leaves them out. Without Pods (the webhook need not sync them), what
#   runs is the quota's own status.used, which the cluster keeps, less the pods
#   the rolled workloads run now: on the command line they are taken to run
#   already, in the webhook only an UPDATE has them. Checks requests.cpu (and cpu), requests.memory (and
#   memory), limits.cpu, limits.memory, pods and count/pods of every quota in
#   the namespace, from the change or the inventory. A rollout also creates an
#   object: a ReplicaSet (Deployment, Rollout) or a ControllerRevision
#   (StatefulSet, DaemonSet); count/replicasets.apps and
#   count/controllerrevisions.apps are checked against the quota's status.used,
#   which only the cluster knows (`kubectl get resourcequota -o yaml` lists it,
#   for --namespace-usage). Quotas with scopes or a scopeSelector count only
#   some pods and are left alone, and so are other count/* and extended
#   resources. The peaks are summed: the workloads of a
#   change roll at the same time. Needs the simulation, so it runs in rollguard
#   check and the webhook (which judges one workload against the synced
#   ResourceQuotas and LimitRanges), not in the Gatekeeper tree. High severity: the rollout
#   stalls and fails; a quota already exceeded at rest is reported as such.
# scope: package
# custom:
#   id: k8s.quota_headroom
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.6", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Make room in namespace {{ namespace }}: raise {{ resource }} in ResourceQuota
#     {{ quota }} to at least {{ need }}, or roll fewer pods at once.
#   case_remediation:
#     no_room_for_surge: >-
#       Make room for the surge in namespace {{ namespace }}: raise {{ resource }}
#       in ResourceQuota {{ quota }} from {{ hard }} to at least {{ need }}; or
#       lower maxSurge (and allow maxUnavailable instead) so fewer pods run at
#       once; or roll {{ workloads }} one after another instead of in one change.
#     over_at_rest: >-
#       The pods of namespace {{ namespace }} exceed {{ resource }} of ResourceQuota
#       {{ quota }} ({{ hard }}) even before the rollout: raise it to at least
#       {{ need }} or lower the replicas or requests of {{ workloads }}.
#     not_simulated: >-
#       Make the rollout simulable so it can be weighed against ResourceQuota
#       {{ quota }}: {{ not_simulated }}.
#     no_room_for_new_revision: >-
#       Raise {{ resource }} in ResourceQuota {{ quota }} from {{ hard }} to at
#       least {{ need }}, or lower revisionHistoryLimit on the workloads of
#       namespace {{ namespace }} so that fewer old revisions are kept.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout]
#   needs: [simulation]
#   inventory: {"*": [ResourceQuota, LimitRange]}
#   inventory_optional: {"*": [Pod]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       reserve_percent:
#         type: integer
#         minimum: 0
#         maximum: 100
#         default: 0
#         description: >-
#           Share of each quota kept free during a rollout, for what else runs
#           in the namespace meanwhile (Jobs, an HPA scaling up).
#   example_allowed: |
#     apiVersion: v1
#     kind: ResourceQuota
#     metadata: {name: compute, namespace: shop}
#     spec:
#       hard: {requests.cpu: "4", pods: "10"}
#     ---
#     apiVersion: apps/v1
#     kind: Deployment
#     metadata: {name: web, namespace: shop}
#     spec:
#       replicas: 3
#       strategy:
#         rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
#       template:
#         spec:
#           containers:
#             - name: web
#               resources:
#                 requests: {cpu: 500m}
#   example_disallowed: |
#     apiVersion: v1
#     kind: ResourceQuota
#     metadata: {name: compute, namespace: shop}
#     spec:
#       hard: {requests.cpu: "2", pods: "10"}
#     ---
#     apiVersion: apps/v1
#     kind: Deployment
#     metadata: {name: web, namespace: shop}
#     spec:
#       replicas: 3
#       strategy:
#         rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
#       template:
#         spec:
#           containers:
#             - name: web
#               resources:
#                 requests: {cpu: 500m}
package rollguard.k8s.quota_headroom

import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": details} if {
	some quota in quotas
	is_object(input.simulation)
	not input.simulation.not_simulated
	some key, raw in quota.spec.hard
	measure := measures[key]
	hard := quantity(raw)
	allowed := (hard * (100 - reserve_percent)) / 100
	running := running_usage(quota, key, measure)
	peak := sum([peak_usage(s, measure) | some s in rolled])
	running + peak > allowed + tolerance
	at_rest := running + sum([rest_usage(s, measure) | some s in rolled])
	case := case_of(at_rest, allowed)
	need := running + peak
	names := [sprintf("%s/%s", [s.kind, s.name]) | some s in rolled]
	details := {
		"case": case,
		"namespace": k8s.namespace,
		"quota": quota.metadata.name,
		"resource": key,
		"hard": amount(measure, hard),
		"reserve_percent": reserve_percent,
		"running": amount(measure, running),
		"running_pods": running_pod_count,
		"running_from": running_source(quota, key),
		"peak": amount(measure, peak),
		"need": amount(measure, need),
		"workloads": names,
		"path": strategy_path,
	}
	msg := message(case, key, quota.metadata.name, details)
}

# A workload the simulation could not play, in a namespace with a quota: not judged, and said.
violation contains {"msg": msg, "details": details} if {
	reason := input.simulation.not_simulated
	is_string(reason)
	some quota in quotas
	details := {"case": "not_simulated", "not_simulated": reason, "namespace": k8s.namespace, "quota": quota.metadata.name}
	msg := sprintf("not judged against ResourceQuota %s: the rollout could not be simulated: %s", [quota.metadata.name, reason])
}

# A rollout creates one object the quota may count: the new ReplicaSet of a Deployment or a
# Rollout, the new ControllerRevision of a StatefulSet or a DaemonSet. How many exist already,
# only the quota's status says (the cluster fills it in).
new_object := {
	"Deployment": "count/replicasets.apps",
	"Rollout": "count/replicasets.apps",
	"StatefulSet": "count/controllerrevisions.apps",
	"DaemonSet": "count/controllerrevisions.apps",
}

violation contains {"msg": msg, "details": details} if {
	some quota in quotas
	is_object(input.simulation)
	not input.simulation.not_simulated
	key := new_object[k8s.kind]
	hard := quantity(quota.spec.hard[key])
	used := quantity(quota.status.used[key])
	adds := count([s | some s in rolled; new_object[s.kind] == key])
	used + adds > hard
	what := split(split(key, "/")[1], ".")[0]
	details := {
		"case": "no_room_for_new_revision",
		"namespace": k8s.namespace,
		"quota": quota.metadata.name,
		"resource": key,
		"hard": hard,
		"used": used,
		"adds": adds,
		"need": used + adds,
		"workloads": [sprintf("%s/%s", [s.kind, s.name]) | some s in rolled; new_object[s.kind] == key],
		"path": "spec.revisionHistoryLimit",
	}
	msg := sprintf(
		"namespace %s already has %v of the %v %s that ResourceQuota %s allows, and the rollout of %s creates %v more: the new one is refused with \"exceeded quota\" and the rollout does not start",
		[k8s.namespace, used, hard, what, quota.metadata.name, concat(", ", details.workloads), adds],
	)
}

# The workloads the change rolls in this namespace, as the simulation played them: every one
# of the change (the command line), or the one under review (the webhook judges one object).
rolled := [s |
	some s in change_simulation
	s.namespace == k8s.namespace
	not s.not_simulated
] if {
	is_array(change_simulation)
} else := [input.simulation]

# A rule with a default, not the reference itself: OPA evaluates a reference inside `not`
# first, so a missing one would fail the body instead of negating.
default change_simulation := null

change_simulation := data.rollguard.changeset.simulation

# The namespace's quotas that count every pod: a scoped quota counts only some of them.
quotas := [q |
	some api
	q := data.inventory.namespace[k8s.namespace][api].ResourceQuota[_]
	is_object(q.spec.hard)
	not q.spec.scopes
	not q.spec.scopeSelector
]

# Quota keys and what they measure; `cpu` and `memory` are the old names of the requests.
measures := {
	"requests.cpu": "requests.cpu",
	"cpu": "requests.cpu",
	"requests.memory": "requests.memory",
	"memory": "requests.memory",
	"limits.cpu": "limits.cpu",
	"limits.memory": "limits.memory",
	"pods": "pods",
	"count/pods": "pods",
}

# The selectors of the rolled workloads: the one under review as submitted, the others from the
# inventory. Their pods are the old pods the simulation counts, not running pods besides.
rolled_selectors := [k8s.obj.spec.selector] if {
	not is_array(change_simulation)
} else := [sel |
	some s in rolled
	some api
	sel := data.inventory.namespace[k8s.namespace][api][s.kind][s.name].spec.selector
]

# What already runs in the namespace besides the rolled workloads: its Pods when the inventory
# holds any; else the quota's own count (status.used, which the cluster keeps current) less what
# the rolled workloads run now. On the command line they are taken to run already (the quota's
# status comes from a listing of the cluster they roll in); in the webhook only an UPDATE does.
running_usage(quota, key, measure) := sum([pod_usage(p, measure) | some p in running_pods]) if {
	count(namespace_pods) > 0
} else := max([0, used - sum([rest_usage(s, measure) | some s in existing])]) if {
	used := quantity(quota.status.used[key])
} else := 0

running_source(quota, key) := "pods" if {
	count(namespace_pods) > 0
} else := "status.used" if {
	quota.status.used[key]
} else := "none"

# No pod count when the quota's status gave the usage: which pods make it up is not known.
running_pod_count := null if {
	count(namespace_pods) == 0
	some quota in quotas
	is_object(quota.status.used)
} else := count(running_pods)

existing := rolled if {
	is_array(change_simulation)
} else := [input.simulation] if {
	input.review.operation == "UPDATE"
} else := []

namespace_pods := [p |
	some api
	p := data.inventory.namespace[k8s.namespace][api].Pod[_]
]

running_pods := [p |
	some api
	p := data.inventory.namespace[k8s.namespace][api].Pod[_]
	not object.get(p, ["status", "phase"], "") in {"Succeeded", "Failed"}
	not rolled_pod(p)
]

rolled_pod(p) if {
	some sel in rolled_selectors
	k8s.selector_matches(sel, object.get(p, ["metadata", "labels"], {}))
}

# What a running pod counts, as its containers declare it (admission has filled in defaults).
pod_usage(_, "pods") := 1

pod_usage(p, measure) := sum([container_value(c, parts[0], parts[1]) |
	parts := split(measure, ".")
	some c in object.get(p, ["spec", "containers"], [])
]) if measure != "pods"

# A request defaults to its limit.
container_value(c, "requests", resource) := quantity(c.resources.requests[resource]) if {
	c.resources.requests[resource]
} else := quantity(c.resources.limits[resource]) if {
	c.resources.limits[resource]
} else := 0

container_value(c, "limits", resource) := quantity(c.resources.limits[resource]) if {
	c.resources.limits[resource]
} else := 0

# One workload at the peak of its rollout, and at rest (its replicas).
peak_usage(s, "pods") := s.peak_pods_with_terminating

peak_usage(s, "requests.cpu") := s.peak_requests.cpu

peak_usage(s, "requests.memory") := s.peak_requests.memory

peak_usage(s, "limits.cpu") := s.peak_limits.cpu

peak_usage(s, "limits.memory") := s.peak_limits.memory

rest_usage(s, "pods") := s.replicas

rest_usage(s, "requests.cpu") := s.pod_requests.cpu * s.replicas

rest_usage(s, "requests.memory") := s.pod_requests.memory * s.replicas

rest_usage(s, "limits.cpu") := s.pod_limits.cpu * s.replicas

rest_usage(s, "limits.memory") := s.pod_limits.memory * s.replicas

quantity(v) := units.parse(v) if {
	is_string(v)
} else := v if {
	is_number(v)
}

# Sums of fractional CPUs are not exact: 0.1 × 3 is 0.30000000000000004.
tolerance := 0.000001

case_of(at_rest, allowed) := "over_at_rest" if {
	at_rest > allowed + tolerance
} else := "no_room_for_surge"

# An amount in the quota's own unit: CPUs to the millicore, memory in MiB to a tenth, pods.
amount("pods", x) := sprintf("%v pods", [x])

amount(measure, x) := sprintf("%v CPU", [round(x * 1000) / 1000]) if endswith(measure, ".cpu")

amount(measure, x) := sprintf("%vMi", [round((x * 10) / 1048576) / 10]) if endswith(measure, ".memory")

message("no_room_for_surge", key, quota, d) := sprintf(
	"at the peak of the rollout namespace %s needs %s of %s (%s %s, %s for %s at their peak), more than ResourceQuota %s allows (%s%s): new pods are refused with \"exceeded quota\" and the rollout stalls",
	[d.namespace, d.need, key, d.running, running_text(d), d.peak, concat(", ", d.workloads), quota, d.hard, reserve_text],
)

message("over_at_rest", key, quota, d) := sprintf(
	"namespace %s needs more %s than ResourceQuota %s allows (%s%s) even before the rollout, and %s at its peak (%s %s, %s for %s): new pods are refused with \"exceeded quota\"",
	[d.namespace, key, quota, d.hard, reserve_text, d.need, d.running, running_text(d), d.peak, concat(", ", d.workloads)],
)

running_text(d) := sprintf("for %v running pods", [d.running_pods]) if d.running_from == "pods"

else := "in use by other pods, by the quota's status" if d.running_from == "status.used"

else := "for 0 running pods"

reserve_text := sprintf(", %v%% of it kept free", [reserve_percent]) if reserve_percent > 0

else := ""

# The field that decides how many pods a rollout adds.
strategy_path := "spec.updateStrategy" if {
	k8s.kind in {"StatefulSet", "DaemonSet"}
} else := "spec.strategy"

reserve_percent := n if {
	n := input.parameters.reserve_percent
	is_number(n)
} else := 0
