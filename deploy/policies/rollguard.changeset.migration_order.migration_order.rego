# METADATA
# title: Migrations run before the workloads that use the database roll out
# description: >-
#   A change that holds database migrations and workloads must say which goes
#   first: pods of the new version that start before their migration has run
#   fail on the missing schema, and a deploy tool applies manifests in whatever
#   order it likes. The ordering counts as given when the change holds a Job or
#   Pod annotated `rollguard.io/migration` (any value but "false"; the pipeline
#   runs it first and waits for it), a Helm pre-upgrade hook (`helm.sh/hook`
#   listing pre-upgrade, as in `pre-install,pre-upgrade`), or an Argo CD PreSync
#   hook (`argocd.argoproj.io/hook: PreSync`). Judged only when the change has
#   migration files, for every Deployment, StatefulSet, DaemonSet and Argo
#   Rollout that uses the database: the ones labelled or annotated
#   `rollguard.io/uses-database: "true"` (on the object or its pod template),
#   or, when no workload of the change is marked, every workload of the change.
#   Medium because it checks that the order is declared in the change, not that
#   it is wrong: a pipeline step that runs the migrations before the deploy, the
#   most common setup, is invisible to it.
# scope: package
# custom:
#   id: changeset.migration_order
#   severity: medium
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Run the migrations before the rollout and make the deployment wait for
#     them: a Helm hook Job (`helm.sh/hook: pre-install,pre-upgrade`), an Argo CD
#     PreSync hook Job, or a Job annotated `rollguard.io/migration: "true"` that
#     the pipeline runs first. Mark the workloads that use the database with
#     `rollguard.io/uses-database: "true"` so the others are not judged.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Job, Pod, Deployment, StatefulSet, DaemonSet, Rollout]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       migration_annotation:
#         type: string
#         default: rollguard.io/migration
#         description: Annotation that marks a Job or Pod as the migration step the pipeline runs before the rollout.
#       uses_database_key:
#         type: string
#         default: rollguard.io/uses-database
#         description: Label or annotation (value "true") that marks a workload as using the database.
#   example_allowed: |
#     # the change: migrations/V8__add_region.sql, deploy/web.yaml and
#     apiVersion: batch/v1
#     kind: Job
#     metadata:
#       name: migrate
#       annotations:
#         helm.sh/hook: pre-install,pre-upgrade
#   example_disallowed: |
#     # the change: migrations/V8__add_region.sql and only
#     apiVersion: apps/v1
#     kind: Deployment
#     metadata:
#       name: web
#       labels: {rollguard.io/uses-database: "true"}
package rollguard.changeset.migration_order

import data.rollguard.lib.changeset
import data.rollguard.lib.k8s

default_migration_annotation := "rollguard.io/migration"

default_uses_database_key := "rollguard.io/uses-database"

migration_annotation := a if {
	a := input.parameters.migration_annotation
	is_string(a)
	a != ""
} else := default_migration_annotation

uses_database_key := a if {
	a := input.parameters.uses_database_key
	is_string(a)
	a != ""
} else := default_uses_database_key

migration_files := sort([changeset.migration_name(doc) | some doc in changeset.migrations])

# Every other rule starts with this test: regorus may evaluate a package's rules eagerly, and
# a change without migrations must not pay for walking its workloads.
has_migrations if count(migration_files) > 0

violation contains {"msg": msg, "details": d} if {
	has_migrations
	uses_database(k8s.obj)
	not ordered
	d := {"migrations": migration_files, "uses_database": selection}
	msg := sprintf(
		"the change has %d migration file(s) (%s) but nothing runs them before %s rolls out: add a pre-upgrade hook Job, a PreSync hook or a Job annotated %s",
		[count(migration_files), concat(", ", migration_files), k8s.display, migration_annotation],
	)
}

# "marked" when some workload of the change carries the key, else "all": every workload counts.
selection := "marked" if {
	has_migrations
	some w in changeset.workloads({"Deployment", "StatefulSet", "DaemonSet", "Rollout"})
	marked(w.object)
} else := "all"

uses_database(obj) if {
	selection == "all"
	is_object(obj)
}

uses_database(obj) if marked(obj)

marked(obj) if changeset.labels(obj)[uses_database_key] == "true"

marked(obj) if changeset.annotations(obj)[uses_database_key] == "true"

# A migration step that runs before the rollout, anywhere in the change.
ordered if {
	has_migrations
	some w in changeset.workloads({"Job", "Pod"})
	runs_first(object.get(object.get(w.object, "metadata", {}), "annotations", {}))
}

runs_first(annotations) if {
	value := annotations[migration_annotation]
	is_string(value)
	value != "false"
}

runs_first(annotations) if {
	hooks := annotations["helm.sh/hook"]
	is_string(hooks)
	"pre-upgrade" in [trim_space(h) | some h in split(hooks, ",")]
}

runs_first(annotations) if {
	hooks := annotations["argocd.argoproj.io/hook"]
	is_string(hooks)
	"PreSync" in [trim_space(h) | some h in split(hooks, ",")]
}
