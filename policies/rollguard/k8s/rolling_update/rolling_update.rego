# METADATA
# title: Rolling updates keep enough replicas available
# description: >-
#   A rollout is only safe when old pods are replaced a few at a time while the
#   rest keep serving. Strategy Recreate stops every pod before new ones start;
#   updateStrategy OnDelete never rolls a template change out at all; maxSurge
#   and maxUnavailable that both resolve to 0 leave the controller no room to
#   replace a pod; and a large maxUnavailable takes too much capacity away at
#   once. The availability check applies Kubernetes' own arithmetic: maxSurge
#   rounds up, maxUnavailable rounds down and is capped at the replica count,
#   both default to 25%, and available = replicas - maxUnavailable. Covers
#   Deployments, DeploymentConfigs (Recreate, rollingParams) and Argo Rollouts
#   with a replica-based canary (without trafficRouting, where maxSurge and
#   maxUnavailable drive the rollout); StatefulSets and DaemonSets for OnDelete;
#   DaemonSets also for maxSurge and maxUnavailable both 0 and for a percentage
#   maxUnavailable that by itself leaves fewer than the minimum available (the
#   node count is unknown, so an absolute value is not judged). StatefulSets
#   replace one pod at a time by design and get no availability check. A
#   strategy type Kubernetes does not know (anything but RollingUpdate and
#   Recreate for Deployments, RollingUpdate and OnDelete for StatefulSets and
#   DaemonSets, Rolling, Recreate and Custom for DeploymentConfigs; the field
#   is case-sensitive) is reported too: the API server rejects the object, so
#   the rollout fails at the apply step. High severity: each of these turns a
#   rollout into an outage or leaves it stuck. One case is reported at low
#   severity instead, because there Recreate is the strategy that works: a
#   single replica (spec.replicas 1 or unset) whose pod mounts a
#   PersistentVolumeClaim (persistentVolumeClaim.claimName) or binds a host
#   port (a container port with hostPort, or any container port under
#   hostNetwork). A surge pod could not attach a ReadWriteOnce volume the old
#   pod holds on another node, nor bind the same host port, so a rolling update
#   would hang; the finding stays, at low severity, because each rollout is
#   still a short outage that the team should know about. The claim is not
#   looked up, whether it is in the change or not (neither the webhook's nor
#   Gatekeeper's inventory holds PersistentVolumeClaims): its access mode is
#   unknown, and an unknown claim is taken to be ReadWriteOnce, the mode block
#   storage offers and most claims ask for (a ReadWriteMany claim, which could
#   roll, is then reported at low too). A pod's ephemeral volume
#   (ephemeral.volumeClaimTemplate) does not count: every pod gets its own
#   claim, so it does not stop a rolling update.
# scope: package
# custom:
#   id: k8s.rolling_update
#   severity: high
#   case_severity: {recreate_required: low}
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Use strategy type RollingUpdate (Rolling for DeploymentConfigs) and
#     updateStrategy RollingUpdate; allow at least one surge pod or one
#     unavailable pod; and keep maxUnavailable small enough that at least
#     min_available_percent of the replicas stay available, for example
#     maxSurge 1 and maxUnavailable 0, or more replicas. A single replica that
#     holds a ReadWriteOnce volume or a host port can keep Recreate (set
#     allow_recreate to stop the low-severity note); to roll it without an
#     outage, move its data to ReadWriteMany storage or to a StatefulSet with
#     more replicas, and drop the host port for a Service.
#   case_remediation:
#     recreate: >-
#       Change spec.strategy.type from Recreate to RollingUpdate (Rolling on a
#       DeploymentConfig), for example with maxSurge 1 and maxUnavailable 0, so
#       that every replica keeps serving while the new pods start. If the
#       workload must never run two versions at once, set the parameter
#       allow_recreate to true instead.
#     recreate_required: >-
#       Nothing has to change: for a single replica that holds a ReadWriteOnce
#       volume or a host port, Recreate is the strategy that rolls (set the
#       parameter allow_recreate to true to stop this note). To roll without
#       the short outage, move the data to ReadWriteMany storage (if the claim
#       already is ReadWriteMany, RollingUpdate works as it is) or to a
#       StatefulSet with more replicas, and replace the host port with a
#       Service.
#     on_delete: >-
#       Set spec.updateStrategy.type to RollingUpdate, the default, so that a
#       template change replaces the old pods without anyone deleting them.
#     no_room: >-
#       Set {{ path }} to 1, so that the rollout starts a new pod before it
#       stops an old one; with maxUnavailable 0 all {{ replicas }} replicas keep
#       serving.
#     too_many_unavailable: >-
#       Lower {{ path }} from {{ max_unavailable }} until at least
#       {{ min_available_percent }}% of the {{ replicas }} replicas stay
#       available during a rollout, and let maxSurge give the rollout its room
#       instead: maxSurge 1 with maxUnavailable 0 keeps every replica serving.
#     daemonset_no_room: >-
#       Set {{ path }} to 1, the DaemonSet default, so that the rollout can
#       replace a pod; or set maxSurge to 1 instead, to start each node's new
#       pod before its old one stops (not for pods that bind a host port).
#     daemonset_too_many_unavailable: >-
#       Lower {{ path }} from {{ max_unavailable }} until at least
#       {{ min_available_percent }}% of the DaemonSet's pods stay available (a
#       percentage no higher than 100 minus that), or use an absolute number
#       such as 1.
#     unknown_type: >-
#       Set {{ field }} to a strategy the API server accepts ({{ valid }}; the
#       names are case-sensitive), normally RollingUpdate (Rolling on a
#       DeploymentConfig), which is also what the field defaults to when
#       removed.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       allow_recreate:
#         type: boolean
#         default: false
#         description: Accept strategy type Recreate (for workloads that must never run two versions at once).
#       min_available_percent:
#         type: integer
#         minimum: 0
#         maximum: 100
#         default: 75
#         description: Share of the desired replicas, in percent, that must stay available during a rollout.
#   example_allowed: |
#     replicas: 4
#     strategy:
#       type: RollingUpdate
#       rollingUpdate:
#         maxSurge: 1
#         maxUnavailable: 0
#   example_disallowed: |
#     replicas: 3
#     strategy:
#       type: RollingUpdate
#       rollingUpdate:
#         maxSurge: 0
#         maxUnavailable: 2
package rollguard.k8s.rolling_update

import data.rollguard.lib.k8s

# Each clause starts with its most selective test. Most are about a field that a compliant
# object leaves out (strategy Recreate, updateStrategy OnDelete, a DaemonSet's maxUnavailable)
# and read it first, from input.review.object (what k8s.obj names): OPA's rule index then skips
# the clause, unevaluated, for an object without the field.

violation contains {"msg": msg, "details": details} if {
	input.review.object.spec.strategy.type == "Recreate"
	k8s.kind in {"Deployment", "DeploymentConfig"}
	not recreate_allowed
	[msg, details] := recreate_finding
}

violation contains {"msg": msg, "details": {"update_strategy": "OnDelete", "case": "on_delete", "path": "spec.updateStrategy.type"}} if {
	input.review.object.spec.updateStrategy.type == "OnDelete"
	k8s.kind in {"StatefulSet", "DaemonSet"}
	msg := "updateStrategy type OnDelete never rolls out a template change: old pods keep running until someone deletes them"
}

violation contains {"msg": msg, "details": details} if {
	r := rollout
	r.room == 0
	valid_plan(r.plan)
	p := r.plan

	# Named at maxSurge: a surge pod is the room that costs no availability.
	details := object.union(p, {"case": "no_room", "path": rolling_param_path("maxSurge")})
	msg := sprintf(
		"maxSurge %v and maxUnavailable %v both resolve to 0 for %d replicas, so the rollout has no room to replace a pod",
		[p.max_surge, p.max_unavailable, p.replicas],
	)
}

violation contains {"msg": msg, "details": details} if {
	r := rollout
	r.shortfall > 0
	r.room > 0
	valid_plan(r.plan)
	p := r.plan
	available := p.replicas - p.resolved_max_unavailable
	percent := floor((available * 100) / p.replicas)
	details := object.union(p, {
		"available": available,
		"available_percent": percent,
		"min_available_percent": min_available_percent,
		"case": "too_many_unavailable",
		"path": rolling_param_path("maxUnavailable"),
	})
	msg := sprintf(
		"a rolling update keeps only %d of %d replicas available (%d%%), below the minimum of %v%%",
		[available, p.replicas, percent, min_available_percent],
	)
}

# Only a maxUnavailable that is set (its default is 1) can leave a DaemonSet no room.
violation contains {"msg": msg, "details": details} if {
	unavailable := input.review.object.spec.updateStrategy.rollingUpdate.maxUnavailable
	is_zero(unavailable)
	k8s.kind == "DaemonSet"
	daemonset_rolling
	surge := spec_value(["spec", "updateStrategy", "rollingUpdate", "maxSurge"], 0)
	is_zero(surge)
	details := {
		"max_surge": surge,
		"max_unavailable": unavailable,
		"case": "daemonset_no_room",
		"path": "spec.updateStrategy.rollingUpdate.maxUnavailable",
	}
	msg := sprintf(
		"maxSurge %v and maxUnavailable %v are both 0, so the rollout has no room to replace a pod",
		[surge, unavailable],
	)
}

# A DaemonSet's desired count is the number of matching nodes, unknown here; a
# percentage maxUnavailable (rounded up by the controller) still bounds what stays available.
violation contains {"msg": msg, "details": details} if {
	unavailable := input.review.object.spec.updateStrategy.rollingUpdate.maxUnavailable
	is_string(unavailable)
	k8s.kind == "DaemonSet"
	daemonset_rolling
	regex.match(`^[0-9]+%$`, unavailable)
	down := to_number(trim_suffix(unavailable, "%"))
	down > 0
	at_most := max([100 - down, 0])
	at_most < min_available_percent
	details := {
		"max_unavailable": unavailable,
		"available_percent_at_most": at_most,
		"min_available_percent": min_available_percent,
		"case": "daemonset_too_many_unavailable",
		"path": "spec.updateStrategy.rollingUpdate.maxUnavailable",
	}
	msg := sprintf(
		"maxUnavailable %s keeps at most %d%% of the DaemonSet's pods available during a rollout, below the minimum of %v%%",
		[unavailable, at_most, min_available_percent],
	)
}

# A strategy that rolls like a Deployment (rolling_params_path) is a known one: that rule, which
# the plan has computed already, clears the common case before the look-up by kind.
violation contains {"msg": msg, "details": details} if {
	not rolling_params_path
	kind_field := strategy_fields[k8s.kind]
	value := object.get(input.review.object, kind_field.path, null)
	not value in kind_field.valid
	not value in {null, ""}
	field := concat(".", kind_field.path)
	valid := sort(kind_field.valid)
	details := {"field": field, "type": value, "valid": valid, "case": "unknown_type", "path": field}
	msg := sprintf(
		"%s %s is not a %s update strategy (%s): the API server rejects the %s, so the rollout fails at the apply step",
		[field, json.marshal(value), k8s.kind, concat(" or ", valid), k8s.kind],
	)
}

# The strategy type fields and the values Kubernetes accepts, by kind (one look-up for the
# kind under review); unset or "" defaults to the rolling strategy.
strategy_fields := {
	"Deployment": {"path": ["spec", "strategy", "type"], "valid": {"RollingUpdate", "Recreate"}},
	"StatefulSet": {"path": ["spec", "updateStrategy", "type"], "valid": {"RollingUpdate", "OnDelete"}},
	"DaemonSet": {"path": ["spec", "updateStrategy", "type"], "valid": {"RollingUpdate", "OnDelete"}},
	"DeploymentConfig": {"path": ["spec", "strategy", "type"], "valid": {"Rolling", "Recreate", "Custom"}},
}

recreate_allowed if input.parameters.allow_recreate == true

# Strategy Recreate: an outage on each rollout, unless a single replica holds what a second pod
# could not share, where Recreate is the strategy that works.
recreate_finding := [msg, {"strategy": "Recreate", "case": "recreate", "path": "spec.strategy.type"}] if {
	not recreate_required
	msg := "strategy type Recreate stops every old pod before a new one starts, so each rollout is an outage"
}

recreate_finding := [msg, details] if {
	recreate_required
	details := {
		"strategy": "Recreate",
		"case": "recreate_required",
		"replicas": 1,
		"claims": claims,
		"host_ports": host_ports,
		"path": "spec.strategy.type",
	}
	msg := sprintf(
		"strategy type Recreate with a single replica that holds %s: a new pod could not attach a ReadWriteOnce volume or bind a host port the old one holds, so Recreate is the strategy that works; each rollout is still a short outage",
		[held_text],
	)
}

# One replica holding something two pods cannot share: Recreate is what lets it roll.
recreate_required if {
	k8s.obj_replicas == 1
	count(claims) + count(host_ports) > 0
}

# PersistentVolumeClaims the pod mounts. Their access modes are not looked up, so each counts
# as ReadWriteOnce.
claims := sort({name |
	some v in pod_volumes
	name := v.persistentVolumeClaim.claimName
	is_string(name)
	name != ""
})

pod_volumes := [v | some v in k8s.obj_pod_spec.volumes; is_object(v)] if {
	is_array(k8s.obj_pod_spec.volumes)
} else := []

# Host ports the pod binds: hostPort, or every container port under hostNetwork.
host_ports := sort({n |
	some c in k8s.obj_all_containers
	some p in k8s.container_ports(c)
	n := host_port(p, host_network)
})

host_network := true if k8s.obj_pod_spec.hostNetwork == true else := false

# A function of its arguments only, so documents judged in one call never share a result.
host_port(p, on_host_network) := p.hostPort if {
	is_number(p.hostPort)
	p.hostPort > 0
} else := p.containerPort if {
	on_host_network == true
	is_number(p.containerPort)
}

held_text := concat(" and ", [t |
	some t in [claims_text, ports_text]
	t != ""
])

claims_text := "" if {
	count(claims) == 0
} else := sprintf("PersistentVolumeClaim %q", [claims[0]]) if {
	count(claims) == 1
} else := sprintf("PersistentVolumeClaims %s", [concat(", ", [sprintf("%q", [c]) | some c in claims])])

ports_text := "" if {
	count(host_ports) == 0
} else := sprintf("hostPort %v", [host_ports[0]]) if {
	count(host_ports) == 1
} else := sprintf("hostPorts %s", [concat(", ", [sprintf("%v", [n]) | some n in host_ports])])

min_available_percent := p if {
	p := input.parameters.min_available_percent
	is_number(p)
} else := 75

# The settings of the object under review at `path`; `fallback` when missing or null.
spec_value(path, fallback) := v if {
	v := object.get(input.review.object, path, null)
	v != null
} else := fallback

# How a Deployment-style rollout proceeds. `plan`: the raw settings (defaults filled in) and the
# pod counts Kubernetes derives from them for the desired replicas; `room`: the pods it may add
# or take down at a time; `shortfall`: how far the replicas kept available fall below
# min_available_percent (in hundredths of a replica; positive when too few stay).
# The plan is checked for well-formed values (valid_plan) only once a finding is in sight: a
# compliant rollout is cleared without the checks, and a malformed one is never reported.
# For the settings rollout_cleared recognises there is no plan at all: it could find nothing.
rollout := {
	"plan": {
		"replicas": desired,
		"max_surge": surge,
		"max_unavailable": unavailable,
		"resolved_max_surge": resolved_surge,
		"resolved_max_unavailable": resolved_unavailable,
	},
	"room": resolved_surge + resolved_unavailable,
	"shortfall": (min_available_percent * desired) - ((desired - resolved_unavailable) * 100),
} if {
	not rollout_cleared
	prefix := rolling_params_path
	desired := k8s.obj_replicas
	obj := input.review.object
	surge_set := object.get(obj, array.concat(prefix, ["maxSurge"]), null)
	unavailable_set := object.get(obj, array.concat(prefix, ["maxUnavailable"]), null)

	# Unset or null, a setting is the default 25% (one look-up, where spec_value is a call).
	surge := object.get({null: "25%"}, surge_set, surge_set)
	unavailable := object.get({null: "25%"}, unavailable_set, unavailable_set)
	resolved_surge := k8s.scaled_value(surge, desired, true)
	resolved_unavailable := min([k8s.scaled_value(unavailable, desired, false), desired])
}

# The settings most Deployments use, maxUnavailable 0 and a number of surge pods, need no plan:
# the surge gives the rollout room and every replica stays available, which only a
# min_available_percent above 100 finds too few (a replica count below one is no finding either).
rollout_cleared if {
	input.review.object.spec.strategy.rollingUpdate.maxUnavailable == 0
	surge := input.review.object.spec.strategy.rollingUpdate.maxSurge
	is_number(surge)
	surge > 0
	k8s.kind == "Deployment"
	min_available_percent <= 100
}

# Whole replicas, at least one, and int-or-percent settings (the API server rejects others):
# what the plan's arithmetic assumes.
valid_plan(p) if {
	p.replicas == floor(p.replicas)
	p.replicas >= 1
	valid_setting(p.max_surge)
	valid_setting(p.max_unavailable)
}

# Where maxSurge and maxUnavailable live, for the kinds that roll like a Deployment (an unset
# strategy type is the rolling one).
rolling_params_path := ["spec", "strategy", "rollingUpdate"] if {
	k8s.kind == "Deployment"
	object.get(input.review.object, ["spec", "strategy", "type"], null) in {null, "RollingUpdate"}
} else := ["spec", "strategy", "rollingParams"] if {
	k8s.kind == "DeploymentConfig"
	object.get(input.review.object, ["spec", "strategy", "type"], null) in {null, "Rolling"}
} else := ["spec", "strategy", "canary"] if {
	k8s.kind == "Rollout"
	is_object(input.review.object.spec.strategy.canary)
	not canary_traffic_routed
}

# The field of setting `name` (maxSurge, maxUnavailable) where rolling_params_path puts it.
rolling_param_path(name) := concat(".", array.concat(rolling_params_path, [name]))

# With a traffic router Argo Rollouts sizes the stable and canary ReplicaSets
# from traffic weights and ignores maxSurge/maxUnavailable.
canary_traffic_routed if spec_value(["spec", "strategy", "canary", "trafficRouting"], null) != null

daemonset_rolling if spec_value(["spec", "updateStrategy", "type"], "RollingUpdate") == "RollingUpdate"

# An int-or-percent setting the API server accepts.
valid_setting(value) if {
	is_number(value)
	value == floor(value)
	value >= 0
}

valid_setting(value) if {
	is_string(value)
	regex.match(`^[0-9]+%$`, value)
}

is_zero(value) if value == 0

is_zero(value) if value == "0%"
