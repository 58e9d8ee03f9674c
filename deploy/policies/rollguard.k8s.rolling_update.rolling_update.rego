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
#   the rollout fails at the apply step.
# scope: package
# custom:
#   id: k8s.rolling_update
#   severity: high
#   controls: ["SOC2:CC8.1", "SOC2:A1.1", "ISO27001:A.8.32", "NIST-800-53:CM-3", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Use strategy type RollingUpdate (Rolling for DeploymentConfigs) and
#     updateStrategy RollingUpdate; allow at least one surge pod or one
#     unavailable pod; and keep maxUnavailable small enough that at least
#     min_available_percent of the replicas stay available, for example
#     maxSurge 1 and maxUnavailable 0, or more replicas.
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

violation contains {"msg": msg, "details": {"strategy": "Recreate"}} if {
	k8s.kind in {"Deployment", "DeploymentConfig"}
	k8s.obj.spec.strategy.type == "Recreate"
	not recreate_allowed
	msg := "strategy type Recreate stops every old pod before a new one starts, so each rollout is an outage"
}

violation contains {"msg": msg, "details": {"update_strategy": "OnDelete"}} if {
	k8s.kind in {"StatefulSet", "DaemonSet"}
	k8s.obj.spec.updateStrategy.type == "OnDelete"
	msg := "updateStrategy type OnDelete never rolls out a template change: old pods keep running until someone deletes them"
}

violation contains {"msg": msg, "details": plan} if {
	plan.resolved_max_surge == 0
	plan.resolved_max_unavailable == 0
	msg := sprintf(
		"maxSurge %v and maxUnavailable %v both resolve to 0 for %d replicas, so the rollout has no room to replace a pod",
		[plan.max_surge, plan.max_unavailable, plan.replicas],
	)
}

violation contains {"msg": msg, "details": details} if {
	plan.resolved_max_surge + plan.resolved_max_unavailable > 0
	available := plan.replicas - plan.resolved_max_unavailable
	available * 100 < min_available_percent * plan.replicas
	percent := floor((available * 100) / plan.replicas)
	details := object.union(plan, {
		"available": available,
		"available_percent": percent,
		"min_available_percent": min_available_percent,
	})
	msg := sprintf(
		"a rolling update keeps only %d of %d replicas available (%d%%), below the minimum of %v%%",
		[available, plan.replicas, percent, min_available_percent],
	)
}

violation contains {"msg": msg, "details": details} if {
	k8s.kind == "DaemonSet"
	daemonset_rolling
	surge := spec_value(["spec", "updateStrategy", "rollingUpdate", "maxSurge"], 0)
	unavailable := spec_value(["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], 1)
	is_zero(surge)
	is_zero(unavailable)
	details := {"max_surge": surge, "max_unavailable": unavailable}
	msg := sprintf(
		"maxSurge %v and maxUnavailable %v are both 0, so the rollout has no room to replace a pod",
		[surge, unavailable],
	)
}

# A DaemonSet's desired count is the number of matching nodes, unknown here; a
# percentage maxUnavailable (rounded up by the controller) still bounds what stays available.
violation contains {"msg": msg, "details": details} if {
	k8s.kind == "DaemonSet"
	daemonset_rolling
	unavailable := spec_value(["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], 1)
	is_string(unavailable)
	regex.match(`^[0-9]+%$`, unavailable)
	down := to_number(trim_suffix(unavailable, "%"))
	down > 0
	at_most := max([100 - down, 0])
	at_most < min_available_percent
	details := {
		"max_unavailable": unavailable,
		"available_percent_at_most": at_most,
		"min_available_percent": min_available_percent,
	}
	msg := sprintf(
		"maxUnavailable %s keeps at most %d%% of the DaemonSet's pods available during a rollout, below the minimum of %v%%",
		[unavailable, at_most, min_available_percent],
	)
}

violation contains {"msg": msg, "details": details} if {
	some kind_field in strategy_fields
	kind_field.kind == k8s.kind
	value := object.get(k8s.obj, kind_field.path, null)
	not value in {null, ""}
	not value in kind_field.valid
	field := concat(".", kind_field.path)
	valid := sort(kind_field.valid)
	details := {"field": field, "type": value, "valid": valid}
	msg := sprintf(
		"%s %s is not a %s update strategy (%s): the API server rejects the %s, so the rollout fails at the apply step",
		[field, json.marshal(value), k8s.kind, concat(" or ", valid), k8s.kind],
	)
}

# The strategy type fields and the values Kubernetes accepts; unset or "" defaults to the
# rolling strategy.
strategy_fields := [
	{"kind": "Deployment", "path": ["spec", "strategy", "type"], "valid": {"RollingUpdate", "Recreate"}},
	{"kind": "StatefulSet", "path": ["spec", "updateStrategy", "type"], "valid": {"RollingUpdate", "OnDelete"}},
	{"kind": "DaemonSet", "path": ["spec", "updateStrategy", "type"], "valid": {"RollingUpdate", "OnDelete"}},
	{"kind": "DeploymentConfig", "path": ["spec", "strategy", "type"], "valid": {"Rolling", "Recreate", "Custom"}},
]

recreate_allowed if input.parameters.allow_recreate == true

min_available_percent := p if {
	p := input.parameters.min_available_percent
	is_number(p)
} else := 75

# The settings of the object under review at `path`; `fallback` when missing or null.
spec_value(path, fallback) := v if {
	v := object.get(k8s.obj, path, null)
	v != null
} else := fallback

# How a Deployment-style rollout proceeds: raw settings (defaults filled in) and
# the pod counts Kubernetes derives from them for the desired replicas.
plan := {
	"replicas": desired,
	"max_surge": surge,
	"max_unavailable": unavailable,
	"resolved_max_surge": resolve(surge, desired, true),
	"resolved_max_unavailable": min([resolve(unavailable, desired, false), desired]),
} if {
	prefix := rolling_params_path
	desired := desired_replicas
	surge := spec_value(array.concat(prefix, ["maxSurge"]), "25%")
	unavailable := spec_value(array.concat(prefix, ["maxUnavailable"]), "25%")
}

# Where maxSurge and maxUnavailable live, for the kinds that roll like a Deployment.
rolling_params_path := ["spec", "strategy", "rollingUpdate"] if {
	k8s.kind == "Deployment"
	spec_value(["spec", "strategy", "type"], "RollingUpdate") == "RollingUpdate"
} else := ["spec", "strategy", "rollingParams"] if {
	k8s.kind == "DeploymentConfig"
	spec_value(["spec", "strategy", "type"], "Rolling") == "Rolling"
} else := ["spec", "strategy", "canary"] if {
	k8s.kind == "Rollout"
	is_object(k8s.obj.spec.strategy.canary)
	not canary_traffic_routed
}

# With a traffic router Argo Rollouts sizes the stable and canary ReplicaSets
# from traffic weights and ignores maxSurge/maxUnavailable.
canary_traffic_routed if spec_value(["spec", "strategy", "canary", "trafficRouting"], null) != null

desired_replicas := n if {
	n := k8s.obj_replicas
	n == floor(n)
	n >= 1
}

daemonset_rolling if spec_value(["spec", "updateStrategy", "type"], "RollingUpdate") == "RollingUpdate"

# An int-or-percent setting as a pod count; undefined for malformed values,
# which the API server rejects anyway.
resolve(value, total, round_up) := k8s.scaled_value(value, total, round_up) if {
	is_number(value)
	value == floor(value)
	value >= 0
} else := k8s.scaled_value(value, total, round_up) if {
	is_string(value)
	regex.match(`^[0-9]+%$`, value)
}

is_zero(value) if value == 0

is_zero(value) if value == "0%"
