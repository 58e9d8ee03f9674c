# METADATA
# title: Container images come from allowed registries
# description: >-
#   Every pod a rollout starts pulls its image at that moment. An image from a
#   registry outside the organisation's control can change or vanish between the
#   first and the last pod of a rollout, was never scanned or signed by the
#   release pipeline, and makes a later rollback depend on a third party. Judges
#   every container, init container and ephemeral container of Pods,
#   Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
#   Jobs, CronJobs, Argo Rollouts and DeploymentConfigs. Image references are
#   normalised first (`nginx` → `docker.io/library/nginx`, `index.docker.io` →
#   `docker.io`), then matched by prefix against allowed_registries; an entry
#   without any "/" names a whole registry host, so `registry.example.com`
#   does not admit `registry.example.com.evil.io/app`. The default empty list
#   allows every registry. High: it judges only once allowed_registries is
#   configured, and an image from outside them was never scanned or signed by
#   the release pipeline.
# scope: package
# custom:
#   id: k8s.image_registry
#   severity: high
#   controls: ["SOC2:CC8.1", "ISO27001:A.8.19", "NIST-800-53:CM-7", "NIST-800-53:SR-3", "CIS-K8S:5.5.1", "PCI-DSS:6.5.1"]
#   remediation: >-
#     Push {{ image }} to an allowed registry ({{ allowed_registries }}; mirror
#     third-party images through it) and reference it there in container
#     {{ container }}, e.g. registry.example.com/shop/checkout:2.4.1; or, if its
#     registry is trusted, add its prefix (ending in "/", e.g. "ghcr.io/my-org/")
#     to allowed_registries.
#   applies_to: [Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Rollout, DeploymentConfig]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       allowed_registries:
#         type: array
#         items: {type: string}
#         default: []
#         description: >-
#           Allowed prefixes of the normalised image reference, e.g.
#           "registry.example.com/" or "docker.io/library/"; an entry without "/"
#           is a registry host. Empty allows every registry.
#   example_allowed: |
#     # allowed_registries: ["registry.example.com/"]
#     containers:
#     - name: web
#       image: registry.example.com/web:1.4.2
#   example_disallowed: |
#     # allowed_registries: ["registry.example.com/"]
#     containers:
#     - name: web
#       image: nginx:1.25
package rollguard.k8s.image_registry

import data.rollguard.lib.image
import data.rollguard.lib.k8s

violation contains {"msg": msg, "details": d} if {
	allowed := input.parameters.allowed_registries
	is_array(allowed)
	count(allowed) > 0
	some e in image.obj_images
	c := e.container
	normalized := e.ref.normalized
	not allowed_reference(normalized, allowed)
	d := {
		"container": c.name,
		"image": c.image,
		"normalized": normalized,
		"allowed_registries": allowed,
		"path": k8s.container_field_path(c, "image"),
	}
	msg := sprintf("container %q image %q (%s) is not from an allowed registry", [c.name, c.image, normalized])
}

allowed_reference(normalized, allowed) if {
	some entry in allowed
	is_string(entry)
	entry != ""
	prefix_matches(normalized, entry)
}

prefix_matches(normalized, entry) if {
	contains(entry, "/")
	startswith(normalized, entry)
}

# A bare host must be followed by "/" so a look-alike host cannot pass.
prefix_matches(normalized, entry) if {
	not contains(entry, "/")
	startswith(normalized, concat("", [entry, "/"]))
}
