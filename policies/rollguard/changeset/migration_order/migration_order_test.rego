package rollguard.changeset.migration_order_test

import data.rollguard.changeset.migration_order
import data.rollguard.lib.changeset_test as c
import data.rollguard.lib.testing

web := c.deployment("shop", "web", "web:2.5")

worker := c.deployment("shop", "worker", "worker:2.5")

migrations := [c.migration_file("V8__add_region.sql", []), c.migration_file("V7__orders.sql", [])]

with_annotations(obj, annotations) := object.union(obj, {"metadata": {"annotations": annotations}})

job(annotations) := with_annotations(c.workload("Job", "shop", "migrate", "web:2.5", {}), annotations)

marked(obj) := object.union(obj, {"metadata": {"labels": {"rollguard.io/uses-database": "true"}}})

test_migrations_without_ordering_are_reported if {
	v := migration_order.violation with input as testing.create_review(web, {})
		with data.inventory as testing.inventory([web])
		with data.rollguard.changeset.migration as migrations
	v == {{
		"msg": "the change has 2 migration file(s) (V7__orders.sql, V8__add_region.sql) but nothing runs them before Deployment shop/web rolls out: add a pre-upgrade hook Job, a PreSync hook or a Job annotated rollguard.io/migration",
		"details": {"migrations": ["V7__orders.sql", "V8__add_region.sql"], "uses_database": "all"},
	}}
}

test_no_migrations_pass if {
	count(migration_order.violation) == 0 with input as testing.create_review(web, {}) with data.inventory as testing.inventory([web])
	count(migration_order.violation) == 0 with input as testing.create_review(web, {})
		with data.inventory as testing.inventory([web])
		with data.rollguard.changeset.migration as []
}

test_each_ordering_mechanism_passes if {
	every annotations in [
		{"rollguard.io/migration": "true"},
		{"helm.sh/hook": "pre-install,pre-upgrade"},
		{"helm.sh/hook": "pre-upgrade"},
		{"argocd.argoproj.io/hook": "PreSync"},
	] {
		count(migration_order.violation) == 0 with input as testing.create_review(web, {})
			with data.inventory as testing.inventory([web, job(annotations)])
			with data.rollguard.changeset.migration as migrations
	}
}

test_hooks_that_run_too_late_do_not_count if {
	every annotations in [
		{"rollguard.io/migration": "false"},
		{"helm.sh/hook": "post-upgrade"},
		{"helm.sh/hook": "pre-install"},
		{"argocd.argoproj.io/hook": "PostSync"},
		{},
	] {
		v := migration_order.violation with input as testing.create_review(web, {})
			with data.inventory as testing.inventory([web, job(annotations)])
			with data.rollguard.changeset.migration as migrations
		count(v) == 1
	}
}

test_only_marked_workloads_are_judged_when_some_are_marked if {
	inv := testing.inventory([marked(web), worker])
	v := migration_order.violation with input as testing.create_review(marked(web), {})
		with data.inventory as inv
		with data.rollguard.changeset.migration as migrations
	{x.details.uses_database | some x in v} == {"marked"}
	count(migration_order.violation) == 0 with input as testing.create_review(worker, {})
		with data.inventory as inv
		with data.rollguard.changeset.migration as migrations
}

test_the_mark_may_be_an_annotation_on_the_pod_template if {
	annotated := object.union(web, {"spec": {"template": {"metadata": {"annotations": {"rollguard.io/uses-database": "true"}}}}})
	inv := testing.inventory([annotated, worker])
	count(migration_order.violation) == 1 with input as testing.create_review(annotated, {})
		with data.inventory as inv
		with data.rollguard.changeset.migration as migrations
	count(migration_order.violation) == 0 with input as testing.create_review(worker, {})
		with data.inventory as inv
		with data.rollguard.changeset.migration as migrations
}

test_annotation_parameters if {
	custom := job({"example.com/migrate": "yes"})
	count(migration_order.violation) == 0 with input as testing.create_review(web, {"migration_annotation": "example.com/migrate"})
		with data.inventory as testing.inventory([web, custom])
		with data.rollguard.changeset.migration as migrations
	flagged := object.union(worker, {"metadata": {"labels": {"example.com/db": "true"}}})
	inv := testing.inventory([web, flagged])
	count(migration_order.violation) == 0 with input as testing.create_review(web, {"uses_database_key": "example.com/db"})
		with data.inventory as inv
		with data.rollguard.changeset.migration as migrations
}

test_migrations_that_ran_already_need_no_ordering if {
	applied := [object.union(m, {"pending": false, "pending_by": "since"}) | some m in migrations]
	count(migration_order.violation) == 0 with input as testing.create_review(web, {})
		with data.inventory as testing.inventory([web])
		with data.rollguard.changeset.migration as applied

	# One pending file is enough to need the ordering, and only it is named.
	mixed := [object.union(migrations[0], {"pending": true, "pending_by": "since"}), applied[1]]
	v := migration_order.violation with input as testing.create_review(web, {})
		with data.inventory as testing.inventory([web])
		with data.rollguard.changeset.migration as mixed
	[x.details.migrations | some x in v] == [["V8__add_region.sql"]]
}
