# METADATA
# title: Providers are deployed before the consumers that need them
# description: >-
#   A consumer that needs a newer provider fails at its first call when it
#   reaches production before that provider does. A workload declares what it
#   needs in the `rollguard.io/depends-on` annotation (on the object or its pod
#   template) or in rollguard.yaml `dependencies:`, as a comma-separated list
#   of `name`, `name>=version` or `namespace/name>=version`; a provider is a
#   Deployment, StatefulSet, DaemonSet, Argo Rollout or DeploymentConfig of
#   that name (in the consumer's namespace unless one is given). Its version
#   is its `app.kubernetes.io/version` label, else the tag of its first
#   container image. Reports a minimum version that neither this change (a
#   provider in the change at that version or later) nor the decision store
#   (the last version that passed in this environment) shows deployed, an
#   entry that cannot be read, and a provider version that cannot be compared.
#   Entries without a version only order the rollout (`rollguard plan order`).
#   High: a consumer that reaches an environment before the provider version it
#   declared fails at its first call, and only dependencies a team declared are
#   judged.
# scope: package
# custom:
#   id: governance.dependency_order
#   severity: high
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:CM-4", "ISO27001:A.8.32"]
#   remediation: >-
#     Deploy the provider at the required version first (`rollguard plan order`
#     prints the order), include it in this change, or check with `--store`
#     against the decision log of the environment.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig, Job, CronJob]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     # orders needs payments>=2.4.0; the change deploys payments 2.4.1
#     metadata:
#       name: orders
#       annotations: {rollguard.io/depends-on: "payments>=2.4.0"}
#   example_disallowed: |
#     # the change deploys payments 2.3.0
#     metadata:
#       name: orders
#       annotations: {rollguard.io/depends-on: "payments>=2.4.0"}
package rollguard.governance.dependency_order

import data.rollguard.lib.changeset
import data.rollguard.lib.k8s

annotation := "rollguard.io/depends-on"

version_label := "app.kubernetes.io/version"

# Declared entries: the annotation's, then rollguard.yaml's for `namespace/name` or `name`.
declared contains {"text": trim_space(entry), "source": sprintf("annotation %s", [annotation])} if {
	value := declared_annotation
	is_string(value)
	some entry in split(value, ",")
	trim_space(entry) != ""
}

# The object's own annotation wins over its pod template's (most workloads have neither).
declared_annotation := value if {
	value := k8s.obj.metadata.annotations[annotation]
} else := value if {
	value := k8s.pod_metadata(k8s.obj).annotations[annotation]
}

declared contains {"text": entry, "source": "rollguard.yaml dependencies"} if {
	configured := data.rollguard.context.dependencies
	count(configured) > 0
	some owner in {sprintf("%s/%s", [k8s.namespace, k8s.name]), k8s.name}
	entries := object.get(configured, owner, [])
	is_array(entries)
	some entry in entries
	is_string(entry)
}

entry_pattern := `^(?:([a-z0-9]([-a-z0-9.]*[a-z0-9])?)/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?:\s*>=\s*(\S+))?$`

requirement(text) := {"namespace": ns, "name": m[3], "minimum": m[5]} if {
	[m] := regex.find_all_string_submatch_n(entry_pattern, text, 1)
	ns := namespace_of(m[1])
}

namespace_of(given) := given if given != "" else := k8s.namespace

violation contains {"msg": msg, "details": d} if {
	some entry in declared
	not requirement(entry.text)
	d := {"entry": entry.text, "source": entry.source}
	msg := sprintf("cannot read %q in %s: write `name`, `name>=version` or `namespace/name>=version`, separated by commas", [entry.text, entry.source])
}

violation contains {"msg": msg, "details": d} if {
	some entry in declared
	r := requirement(entry.text)
	r.minimum != ""
	not parts(r.minimum)
	d := {"entry": entry.text, "source": entry.source}
	msg := sprintf("cannot compare %q in %s: versions are numbers like 2, 2.4 or v2.4.1", [entry.text, entry.source])
}

# The provider is in this change.
violation contains {"msg": msg, "details": d} if {
	some entry in declared
	r := requirement(entry.text)
	parts(r.minimum)
	some p in in_change(r)
	v := version_of(p.object)
	not at_least(v, r.minimum)
	d := {"provider": changeset.display(p), "required": r.minimum, "version": v, "source": entry.source}
	msg := explain_in_change(d)
}

explain_in_change(d) := sprintf("needs %s %s or later, but this change deploys it at %s", [d.provider, d.required, d.version]) if {
	parts(d.version)
} else := sprintf("needs %s %s or later, but its version %q cannot be compared", [d.provider, d.required, d.version])

# The provider is not in this change: the decision store must show it deployed.
violation contains {"msg": msg, "details": d} if {
	some entry in declared
	r := requirement(entry.text)
	parts(r.minimum)
	count(in_change(r)) == 0
	not store_satisfies(r)
	provider := sprintf("%s/%s", [r.namespace, r.name])
	d := object.union({"provider": provider, "required": r.minimum, "environment": environment, "source": entry.source}, last_deployed(r))
	msg := explain_absent(d)
}

explain_absent(d) := sprintf("needs %s %s or later, which is not in this change, and no decision store was given (--store) to show what runs in %s", [d.provider, d.required, d.environment]) if {
	not store_given
} else := sprintf("needs %s %s or later, which is not in this change; the decision store shows %s last deployed to %s at %s", [d.provider, d.required, d.deployed, d.environment, d.deployed_at]) if {
	d.deployed
} else := sprintf("needs %s %s or later, which is not in this change, and the decision store has no passed deployment of it to %s", [d.provider, d.required, d.environment])

store_given if data.rollguard.context.store == true

environment := name if {
	name := data.rollguard.context.environment.name
	is_string(name)
} else := "this environment"

deployed_entries(r) := [e |
	some e in object.get(data.rollguard.context, "deployed", [])
	is_object(e)
	e.namespace == r.namespace
	e.name == r.name
	e.kind in changeset.rollout_kinds
]

store_satisfies(r) if {
	some e in deployed_entries(r)
	at_least(e.version, r.minimum)
}

last_deployed(r) := {"deployed": e.version, "deployed_at": e.time} if {
	e := deployed_entries(r)[0]
	is_string(e.version)
	is_string(e.time)
} else := {}

in_change(r) := [w |
	some w in changeset.workloads(changeset.rollout_kinds)
	w.namespace == r.namespace
	w.name == r.name
]

# A workload's version: its label, else the tag of its first container image.
version_of(obj) := v if {
	v := changeset.labels(obj)[version_label]
	is_string(v)
} else := tag if {
	c := k8s.containers(obj)[0]
	is_string(c.image)
	name := split(c.image, "@")[0]
	segments := split(name, "/")
	last := segments[count(segments) - 1]
	contains(last, ":")
	tag := split(last, ":")[1]
} else := "unknown"

# `v2.4.1`, `2.4`, `3` (an optional pre-release or build suffix is ignored) as three numbers.
parts(text) := [part(nums, 0), part(nums, 1), part(nums, 2)] if {
	is_string(text)
	[m] := regex.find_all_string_submatch_n(`^[vV]?([0-9]{1,6}(?:\.[0-9]{1,6}){0,2})(?:[-+][0-9A-Za-z.+-]*)?$`, text, 1)
	nums := [to_number(p) | some p in split(m[1], ".")]
}

part(nums, i) := nums[i] if count(nums) > i else := 0

at_least(version, minimum) if {
	have := parts(version)
	need := parts(minimum)
	key(have) >= key(need)
}

key(p) := ((p[0] * 1000000) + p[1]) * 1000000 + p[2]
