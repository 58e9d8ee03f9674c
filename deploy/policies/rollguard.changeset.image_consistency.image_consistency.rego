# METADATA
# title: One image runs at one version across the change
# description: >-
#   When one change deploys the same image at different tags or digests, part of
#   the release was promoted and part was not: a values file or overlay missed
#   an update, and the workloads run mismatched versions that were never tested
#   together. Judges every workload (Deployment, StatefulSet, DaemonSet, Argo
#   Rollout, DeploymentConfig, Job, CronJob) against the other workloads of the
#   inventory, in every namespace. Images are compared by repository (registry
#   and path, Docker Hub names normalised); the version of a reference is its
#   digest when it has one, else its tag (`latest` when none), so `app:1.4` and
#   `app:1.4@sha256:...` differ too. Init and ephemeral containers count. Medium
#   because two versions of one image are sometimes intended (a canary, a worker
#   kept on an older release), and nothing breaks until the untested combination
#   misbehaves.
# scope: package
# custom:
#   id: changeset.image_consistency
#   severity: medium
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.32", "NIST-800-53:CM-3"]
#   remediation: >-
#     Promote the release as a whole, so {{ image }} runs at one version (here
#     {{ versions }}, elsewhere {{ other_versions }}): set the image version in
#     one place (a Helm value, a kustomize `images:` entry) used by every
#     workload, or waive the finding when two versions of the image are meant
#     to run side by side.
#   applies_to: [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig, Job, CronJob]
#   # Kinds read from data.inventory, by the kind being judged ("*": any other kind).
#   inventory: {"*": [Deployment, StatefulSet, DaemonSet, Rollout, DeploymentConfig, Job, CronJob]}
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       ignore_images:
#         type: array
#         items: {type: string}
#         default: []
#         description: Repositories (as written, or normalised like docker.io/library/busybox) that may run at several versions.
#   example_allowed: |
#     # deploy/api.yaml and deploy/worker.yaml
#     image: registry.example.com/shop/api:1.4.0
#     image: registry.example.com/shop/api:1.4.0
#   example_disallowed: |
#     # deploy/api.yaml and deploy/worker.yaml
#     image: registry.example.com/shop/api:1.4.0
#     image: registry.example.com/shop/api:1.3.2
package rollguard.changeset.image_consistency

import data.rollguard.lib.changeset
import data.rollguard.lib.image
import data.rollguard.lib.k8s

ignored contains repo if {
	is_array(input.parameters.ignore_images)
	some text in input.parameters.ignore_images
	is_string(text)
	some repo in {text, repository(image.parse(text))}
}

repository(ref) := concat("/", [ref.domain, ref.path])

version(ref) := ref.digest if ref.digest != "" else := ref.tag if ref.tag != "" else := "latest"

# The images of the object under review: repository, version and container.
own contains {"repository": repo, "version": version(entry.ref), "container": object.get(entry.container, "name", "")} if {
	some entry in image.obj_images
	repo := repository(entry.ref)
	not repo in ignored
}

own_repositories := {m.repository | some m in own}

# Another workload of the change runs an image of the same name: only then are the object's
# own images worth parsing. Most workloads share no image with any other. The name is the
# last path component of the image, read without parsing the reference (`api` for
# `reg:5000/shop/api:1.4@sha256:...`: before the first "@", after the last "/" before it, up
# to the first ":"), the key of the inventory's image index.
shared if {
	some c in k8s.obj_all_containers
	reference := c.image
	is_string(reference)
	[[_, name]] := regex.find_all_string_submatch_n(`^(?:[^@]*/)?([^/@:]*)`, reference, 1)
	not only_self(name)
	changeset.has_other("images", changeset.image_kinds, name)
}

# The inventory's image index lists the object under review alone under `name`: then
# changeset.has_other is false, known without working out changeset.reviewed. The usual case.
# The index entry is [namespace, apiVersion, kind, name]; the object under review is that entry
# when the request names its kind and (non-empty) namespace, as changeset.reviewed reads them.
only_self(name) if {
	# Unification: regorus rejects `:=` destructuring a variable in a function body.
	[[ns, _, kind, obj_name]] = data.inventory.rollguard_workloads.images[name]
	obj_name == input.review.object.metadata.name
	kind == input.review.kind.kind
	ns == input.review.namespace
	is_string(obj_name)
	is_string(kind)
	is_string(ns)
	ns != ""
}

violation contains {"msg": msg, "details": d} if {
	shared
	some repo in own_repositories
	versions := {m.version | some m in own; m.repository == repo}
	others := {o |
		some o in elsewhere
		o.repository == repo
		not o.version in versions
	}
	count(others) > 0
	here := sort(versions)
	there := sort({o.version | some o in others})
	d := {
		"image": repo,
		"versions": here,
		"other_versions": there,
		# Ordered by workload, then container.
		"others": [{"workload": x[0], "container": x[1], "version": x[2]} |
			some x in sort({[o.workload, o.container, o.version] | some o in others})
		],
		"path": image_path({m.container | some m in own; m.repository == repo}),
	}
	msg := sprintf(
		"image %s runs at %s here but at %s in %s: a half-promoted release",
		[repo, concat(", ", here), concat(", ", there), concat(", ", sort({o.workload | some o in others}))],
	)
}

# Where the image is in the first (by name) of the containers `names` that run it; the pod
# spec when none of them has a name.
image_path(names) := p if {
	p := k8s.container_field_path({"name": min({n | some n in names; n != ""})}, "image")
} else := k8s.obj_pod_spec_path

# Images of the other workloads of the inventory whose repository the object under review
# runs too; a cheap text test skips the parse for the rest.
elsewhere contains o if {
	some repo in own_repositories
	some w in changeset.image_candidates(changeset.image_kinds, repo)
	changeset.identity(w) != changeset.reviewed
	some c in k8s.all_containers(w.object)
	is_string(c.image)
	contains(c.image, changeset.last_segment(repo))
	ref := image.parse(c.image)
	repository(ref) == repo
	o := {
		"workload": changeset.display(w),
		"container": object.get(c, "name", ""),
		"repository": repo,
		"version": version(ref),
	}
}
