# METADATA
# title: Image reference helpers
# description: >-
#   Parse container image references the way Docker does, for the image policies.
# scope: package
package rollguard.lib.image

import data.rollguard.lib.k8s

# Every container of the object under review that names an image, with the parsed
# reference: computed once per document and shared by the image policies.
obj_images := [{"container": c, "ref": parse(c.image)} |
	some c in k8s.obj_all_containers
	is_string(c.image)
	c.image != ""
]

# Parts of an image reference in Docker's grammar, [domain/]path[:tag][@digest],
# with Docker Hub names normalised (`nginx` → docker.io, library/nginx). The first
# path component is a registry host only when it contains "." or ":", is
# "localhost" or has upper-case letters, so `host:5000/app` has no tag.
# tag and digest are "" when absent.
parse(ref) := {
	"domain": domain,
	"path": path,
	"tag": tag,
	"digest": digest,
	"normalized": concat("", [domain, "/", path, prefixed(":", tag), prefixed("@", digest)]),
} if {
	is_string(ref)

	# name[:tag] before the first "@", the digest after it.
	[[_, name_tag, digest]] := regex.find_all_string_submatch_n(`(?s)^([^@]*)(?:@(.*))?$`, ref, 1)

	# A tag can only follow the last path component; a ":" before it is a port.
	[[_, repository, tag]] := regex.find_all_string_submatch_n(`(?s)^((?:.*/)?[^:/]*)(?::([^/]*))?$`, name_tag, 1)
	host_path := split_domain(repository)
	domain := normal_domain(host_path[0])
	path := normal_path(domain, host_path[1])
}

before_first(s, sep) := substring(s, 0, i) if {
	i := indexof(s, sep)
	i >= 0
} else := s

after_first(s, sep) := substring(s, i + 1, (count(s) - i) - 1) if {
	i := indexof(s, sep)
	i >= 0
} else := ""

prefixed(_, s) := "" if s == ""

prefixed(p, s) := concat("", [p, s]) if s != ""

split_domain(name) := [host, after_first(name, "/")] if {
	host := before_first(name, "/")
	contains(name, "/")
	registry_host(host)
} else := ["docker.io", name]

registry_host(s) if contains(s, ".")

registry_host(s) if contains(s, ":")

registry_host(s) if s == "localhost"

registry_host(s) if lower(s) != s

normal_domain("index.docker.io") := "docker.io"

normal_domain(d) := d if d != "index.docker.io"

normal_path("docker.io", p) := concat("", ["library/", p]) if not contains(p, "/")

normal_path(d, p) := p if d != "docker.io"

normal_path("docker.io", p) := p if contains(p, "/")
