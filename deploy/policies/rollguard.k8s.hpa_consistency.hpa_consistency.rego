# METADATA
# title: HorizontalPodAutoscalers and their targets agree
# description: >-
#   An autoscaled workload rolls safely only if the autoscaler and the manifest
#   agree on who owns the replica count. A workload that sets spec.replicas while
#   an HPA scales it is reset to that number by every apply, so a deployment
#   made under load first scales the service down; an HPA whose target does not
#   exist scales nothing; an HPA with minReplicas below the floor lets the
#   service shrink to a single pod, which a rolling update or an eviction takes
#   down; maxReplicas below minReplicas is rejected or pins the scale; and,
#   when configured, maxReplicas above max_replicas lets one autoscaler take
#   the cluster's capacity, while a spread (maxReplicas - minReplicas) below
#   min_spread leaves the autoscaler nothing to scale. Judges
#   HorizontalPodAutoscalers (any autoscaling/* version) and the Deployments,
#   StatefulSets and Argo Rollouts they target, both looked up by kind and name
#   in the same namespace. Medium because a spec.replicas reset lasts only until
#   the autoscaler's next sync and the other cases are configuration drift, not
#   capacity lost during the rollout.
# scope: package
# custom:
#   id: k8s.hpa_consistency
#   severity: medium
#   controls: ["SOC2:A1.1", "ISO27001:A.8.6", "NIST-800-53:CM-6", "NIST-800-53:SC-5"]
#   remediation: >-
#     Remove spec.replicas from workloads an HPA scales (set it only on the
#     first create, or let the HPA own it); point scaleTargetRef at an existing
#     workload of the same namespace; set minReplicas to at least the configured
#     floor (2 by default) and maxReplicas to at least minReplicas, at most
#     max_replicas and at least min_spread above minReplicas.
#   case_remediation:
#     missing_target: >-
#       Point scaleTargetRef at an existing workload of namespace
#       {{ namespace }}, or create {{ target_kind }} {{ target_name }} there in
#       the same change.
#     min_below_floor: Set minReplicas to at least {{ min_replicas }}.
#     max_below_min: Set maxReplicas to at least minReplicas ({{ minReplicas }}).
#     max_above_limit: Set maxReplicas to at most {{ max_replicas }}.
#     spread_too_small: >-
#       Keep maxReplicas at least {{ min_spread }} above minReplicas (now
#       {{ minReplicas }} and {{ maxReplicas }}) so the autoscaler has room to
#       scale.
#     replicas_set: >-
#       Remove spec.replicas: HorizontalPodAutoscaler {{ hpa }} owns the replica
#       count (set it only on the first create).
#   applies_to: [HorizontalPodAutoscaler, Deployment, StatefulSet, Rollout]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {HorizontalPodAutoscaler: [Deployment, StatefulSet, Rollout], "*": [HorizontalPodAutoscaler]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_replicas:
#         type: integer
#         minimum: 1
#         default: 2
#         description: Lowest minReplicas an HPA may set (Kubernetes defaults an unset minReplicas to 1).
#       max_replicas:
#         type: [integer, "null"]
#         minimum: 1
#         default: null
#         description: Highest maxReplicas an HPA may set; null sets no limit.
#       min_spread:
#         type: integer
#         minimum: 0
#         default: 0
#         description: >-
#           Fewest replicas between minReplicas and maxReplicas; 0 checks
#           nothing beyond maxReplicas not being below minReplicas.
#   example_allowed: |
#     kind: HorizontalPodAutoscaler
#     spec:
#       scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}
#       minReplicas: 3
#       maxReplicas: 10
#   example_disallowed: |
#     kind: HorizontalPodAutoscaler
#     spec:
#       scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}
#       minReplicas: 1
#       maxReplicas: 10
package rollguard.k8s.hpa_consistency

import data.rollguard.lib.k8s

scaled_kinds := {"Deployment", "StatefulSet", "Rollout"}

# An autoscaler under review: one test of the kind instead of one per rule. The kind is
# k8s.kind spelt out, an equality on the input that OPA's rule index decides without
# entering the rule: the request's kind, else (a request naming none) the object's.
violation contains v if {
	input.review.kind.kind == "HorizontalPodAutoscaler"
	some v in autoscaler_violation
}

violation contains v if {
	input.review.object.kind == "HorizontalPodAutoscaler"
	not request_names_kind
	some v in autoscaler_violation
}

# A rule to negate: on OPA, `not is_string(x)` with x undefined is not true.
request_names_kind if is_string(input.review.kind.kind)

autoscaler_violation contains {"msg": msg, "details": d} if {
	ref := k8s.obj.spec.scaleTargetRef
	is_string(ref.kind)
	is_string(ref.name)
	not target_exists(ref)
	d := {
		"target_kind": ref.kind,
		"target_name": ref.name,
		"namespace": k8s.namespace,
		"case": "missing_target",
		"path": "spec.scaleTargetRef.name",
	}
	msg := sprintf("scaleTargetRef %s %s does not exist in namespace %q", [ref.kind, ref.name, k8s.namespace])
}

autoscaler_violation contains {"msg": msg, "details": d} if {
	n := hpa_min_replicas(k8s.obj)
	n < floor_replicas
	d := {"minReplicas": n, "min_replicas": floor_replicas, "case": "min_below_floor", "path": "spec.minReplicas"}
	msg := sprintf("minReplicas is %v, below the minimum of %v", [n, floor_replicas])
}

autoscaler_violation contains {"msg": msg, "details": d} if {
	high := k8s.obj.spec.maxReplicas
	is_number(high)
	low := hpa_min_replicas(k8s.obj)
	high < low
	d := {"minReplicas": low, "maxReplicas": high, "case": "max_below_min", "path": "spec.maxReplicas"}
	msg := sprintf("maxReplicas %v is below minReplicas %v", [high, low])
}

autoscaler_violation contains {"msg": msg, "details": d} if {
	high := k8s.obj.spec.maxReplicas
	is_number(high)
	is_number(ceiling_replicas)
	high > ceiling_replicas
	d := {"maxReplicas": high, "max_replicas": ceiling_replicas, "case": "max_above_limit", "path": "spec.maxReplicas"}
	msg := sprintf("maxReplicas is %v, above the maximum of %v", [high, ceiling_replicas])
}

# A maxReplicas below minReplicas is reported above, not as a negative spread.
autoscaler_violation contains {"msg": msg, "details": d} if {
	high := k8s.obj.spec.maxReplicas
	is_number(high)
	low := hpa_min_replicas(k8s.obj)
	high >= low
	spread := high - low
	spread < min_spread
	d := {
		"minReplicas": low,
		"maxReplicas": high,
		"spread": spread,
		"min_spread": min_spread,
		"case": "spread_too_small",
		"path": "spec.maxReplicas",
	}
	msg := sprintf("minReplicas %v and maxReplicas %v leave a spread of %v, below the minimum of %v", [low, high, spread, min_spread])
}

# The namespace's autoscalers first: most workloads have none, and then nothing else is read.
violation contains {"msg": msg, "details": d} if {
	some hpa in data.inventory.namespace[k8s.namespace][_].HorizontalPodAutoscaler
	hpa.spec.scaleTargetRef.kind == k8s.kind
	hpa.spec.scaleTargetRef.name == k8s.name
	scaled_kinds[k8s.kind]
	sets_replicas(k8s.obj)
	is_string(hpa.metadata.name)
	d := {"replicas": k8s.obj.spec.replicas, "hpa": hpa.metadata.name, "case": "replicas_set", "path": "spec.replicas"}
	msg := sprintf("sets spec.replicas to %v although HorizontalPodAutoscaler %s scales it: every apply resets the replica count", [k8s.obj.spec.replicas, hpa.metadata.name])
}

floor_replicas := input.parameters.min_replicas if {
	is_number(input.parameters.min_replicas)
} else := 2

# No limit unless the parameter is a number.
ceiling_replicas := input.parameters.max_replicas if {
	is_number(input.parameters.max_replicas)
}

min_spread := input.parameters.min_spread if {
	is_number(input.parameters.min_spread)
} else := 0

target_exists(ref) if {
	some target in k8s.inventory(k8s.namespace, ref.kind)
	target.metadata.name == ref.name
}

sets_replicas(wl) if wl.spec.replicas != null

# Kubernetes defaults an unset minReplicas to 1; a malformed value is left to
# the API server's validation.
hpa_min_replicas(hpa) := hpa.spec.minReplicas if {
	is_number(hpa.spec.minReplicas)
} else := 1 if {
	not has_min_replicas(hpa)
}

has_min_replicas(hpa) if hpa.spec.minReplicas != null
