package rollguard.lib.changeset_test

import data.rollguard.lib.changeset
import data.rollguard.lib.migration_test as t
import data.rollguard.lib.testing

# A workload of `kind` running `image`, with `labels` on the object and its pod template.
workload(kind, ns, name, img, labels) := {
	"apiVersion": api_version(kind),
	"kind": kind,
	"metadata": {"name": name, "namespace": ns, "labels": labels},
	"spec": {"template": {
		"metadata": {"labels": labels},
		"spec": {"containers": [{"name": "app", "image": img}]},
	}},
}

api_version("Job") := "batch/v1"

api_version("CronJob") := "batch/v1"

api_version("Rollout") := "argoproj.io/v1alpha1"

api_version("Pod") := "v1"

api_version(k) := "apps/v1" if not k in {"Job", "CronJob", "Rollout", "Pod"}

deployment(ns, name, img) := workload("Deployment", ns, name, img, {"app.kubernetes.io/name": name})

# A migration file of the change holding `stmts` (see rollguard.lib.migration_test).
migration_file(name, stmts) := object.union(t.migration_file(stmts), {"file": name, "metadata": {"name": name}})

test_workloads_lists_every_namespace_with_where_it_is if {
	objs := [deployment("shop", "web", "web:1"), deployment("ops", "agent", "agent:1"), workload("Job", "shop", "migrate", "web:1", {})]
	ws := changeset.workloads({"Deployment"}) with data.inventory as testing.inventory(objs)
	sort([changeset.display(w) | some w in ws]) == ["Deployment ops/agent", "Deployment shop/web"]
}

test_rollouts_need_a_container_image if {
	bare := object.union(deployment("shop", "bare", "x"), {"spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}})
	ws := changeset.rollouts with data.inventory as testing.inventory([deployment("shop", "web", "web:1"), bare])
	[w.name | some w in ws] == ["web"]
}

test_labels_merge_object_and_pod_template if {
	obj := {
		"kind": "Deployment",
		"metadata": {"labels": {"a": "object", "b": "object"}},
		"spec": {"template": {"metadata": {"labels": {"b": "template", "c": "template"}}}},
	}
	changeset.labels(obj) == {"a": "object", "b": "object", "c": "template"}
	changeset.labels({"kind": "Deployment", "metadata": {"labels": "oops"}}) == {}
}

test_semver_reads_semver_ish_versions_only if {
	changeset.semver("v1.2.3") == {"major": 1, "minor": 2}
	changeset.semver("10.20") == {"major": 10, "minor": 20}
	changeset.semver("2.4.1-rc.1+build.7") == {"major": 2, "minor": 4}
	not changeset.semver("latest")
	not changeset.semver("2024-05-01")
	not changeset.semver("1")
	not changeset.semver(1.2)
}

test_migrations_skip_malformed_documents if {
	docs := [migration_file("V1__a.sql", []), "oops"]
	[changeset.migration_name(d) | some d in changeset.migrations] == ["V1__a.sql"] with data.rollguard.changeset.migration as docs
	count(changeset.migrations) == 0
}

test_reviewed_falls_back_on_the_object_like_the_library if {
	obj := deployment("shop", "web", "web:1")
	changeset.reviewed == ["Deployment", "shop", "web"] with input as testing.create_review(obj, {})
	changeset.reviewed == ["Deployment", "shop", "web"] with input as {"review": {"object": obj}}
	changeset.reviewed == ["Deployment", "default", "web"] with input as {"review": {"object": {"kind": "Deployment", "metadata": {"name": "web"}}, "namespace": ""}}
	changeset.reviewed == ["Deployment", "shop", "api"] with input as {"review": {"object": {"kind": "Deployment"}, "kind": {"kind": "Deployment"}, "namespace": "shop", "name": "api"}}
}

test_has_other_reads_the_index_and_skips_the_object_under_review if {
	web := deployment("shop", "web", "reg.io/web:1")
	job := workload("Job", "shop", "migrate", "reg.io/web:1", {})
	ref_web := ["shop", "apps/v1", "Deployment", "web"]
	ref_job := ["shop", "batch/v1", "Job", "migrate"]
	inventory := object.union(testing.inventory([web, job]), {"rollguard_workloads": {"images": {"web": [ref_web, ref_job, "oops", ["shop"]]}}})
	changeset.has_other("images", {"Deployment", "Job"}, "web") with input as testing.create_review(web, {}) with data.inventory as inventory
	not changeset.has_other("images", {"Deployment"}, "web") with input as testing.create_review(web, {}) with data.inventory as inventory
	not changeset.has_other("images", {"Deployment", "Job"}, "api") with input as testing.create_review(web, {}) with data.inventory as inventory
	changeset.has_other("images", {"Job"}, "anything") with input as testing.create_review(web, {}) with data.inventory as testing.inventory([web, job])
}
