# METADATA
# title: Image reference helpers
# description: >-
#   Parse container image references the way Docker does, for the image policies.
# scope: package
package rollguard.lib.image

import data.rollguard.lib.k8s

# Every container of the object under review that names an image, with the parsed
# reference: computed once per document and shared by the image policies.
obj_images := [{"container": c, "ref": parse(image)} |
	some c in k8s.obj_all_containers
	image := c.image
	is_string(image)
	image != ""
]

# The tag and digest of every image of the object under review, split by one match rather
# than parsed whole, for policies that need no more: [container, tag, digest], as parse
# finds them (the tag follows a ":" in the last path component, the digest everything
# after the first "@"; "" when absent).
obj_image_versions := [[c, tag, digest] |
	some c in k8s.obj_all_containers
	reference := c.image
	is_string(reference)
	reference != ""
	[[_, tag, digest]] := regex.find_all_string_submatch_n(`(?s)^(?:[^@]*/)?[^:/@]*(?::([^/@]*))?(?:@(.*))?$`, reference, 1)
]

# Parts of an image reference in Docker's grammar, [domain/]path[:tag][@digest],
# with Docker Hub names normalised (`nginx` → docker.io, library/nginx). The first
# path component is a registry host only when it contains "." or ":", is
# "localhost" or has upper-case letters, so `host:5000/app` has no tag.
# tag and digest are "" when absent.
#
# One match splits it all: a Docker Hub host or a registry host (a first component with "." or
# ":", or "localhost") and its "/" when a "/" comes before the first "@"; the rest of the name up
# to a ":" in its last component (a ":" before it is a port); ":tag" and the tag; "@digest" and
# the digest: everything after the first "@" (empty ":" and "@" separators fall outside those
# groups, so the normalised reference leaves them out). The common case, a registry host, needs nothing
# more; the rest goes through docker_hub.
parse(ref) := {
	"domain": host,
	"path": name,
	"tag": tag,
	"digest": digest,
	"normalized": concat("", [host, "/", name, tag_part, digest_part]),
} if {
	is_string(ref)
	[[_, _, host, name, tag_part, tag, digest_part, digest]] := regex.find_all_string_submatch_n(`(?s)^(?:(docker\.io|index\.docker\.io)/|([^/@]*[.:][^/@]*|localhost)/)?((?:[^@]*/)?[^:/@]*)(?:(:([^/@]+))|:)?(?:(@(.+))|@)?$`, ref, 1)
	host != ""
} else := {
	"domain": domain,
	"path": path,
	"tag": tag,
	"digest": digest,
	"normalized": concat("", [domain, "/", path, tag_part, digest_part]),
} if {
	is_string(ref)
	[[_, hub, _, name, tag_part, tag, digest_part, digest]] := regex.find_all_string_submatch_n(`(?s)^(?:(docker\.io|index\.docker\.io)/|([^/@]*[.:][^/@]*|localhost)/)?((?:[^@]*/)?[^:/@]*)(?:(:([^/@]+))|:)?(?:(@(.+))|@)?$`, ref, 1)
	[domain, path] := docker_hub(hub, name)
}

# [domain, path] of a name with no registry host of the "." / ":" / localhost kind: a first
# component with upper-case letters is still a registry host (unless it came after docker.io);
# otherwise the image is on Docker Hub, an official one under library/ when its name has no "/".
docker_hub(hub, name) := [parts[0], concat("/", array.slice(parts, 1, count(parts)))] if {
	hub == ""
	parts := split(name, "/")
	count(parts) > 1
	lower(parts[0]) != parts[0]
} else := ["docker.io", hub_path(name)]

# [domain, path] of a name whose first component is `first` when `slash` is "/": a single
# component is an official Docker Hub image, a first component that is no registry host a
# Docker Hub account. One function with `else`, so the common case (a registry) stops early.
split_domain(first, slash, rest) := ["docker.io", concat("", ["library/", rest])] if {
	slash == ""
} else := [first, rest] if {
	registry_host(first)
	not first in {"docker.io", "index.docker.io"}
} else := ["docker.io", hub_path(rest)] if {
	first in {"docker.io", "index.docker.io"}
} else := ["docker.io", concat("/", [first, rest])]

# Docker Hub's official images live under library/.
hub_path(p) := concat("", ["library/", p]) if not contains(p, "/") else := p

registry_host(s) if regex.match(`[.:]|^localhost$`, s)

registry_host(s) if lower(s) != s

# ":tag@digest" of the normalised reference, leaving out empty parts and their separators.
suffix(tag, digest) := concat("", [":", tag]) if {
	digest == ""
	tag != ""
} else := "" if {
	digest == ""
} else := concat("", ["@", digest]) if {
	tag == ""
} else := concat("", [":", tag, "@", digest])
