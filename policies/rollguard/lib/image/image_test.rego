package rollguard.lib.image_test

import data.rollguard.lib.image

test_ports_are_not_tags if {
	image.parse("a:1/b:2/c:3") == {"domain": "a:1", "path": "b:2/c", "tag": "3", "digest": "", "normalized": "a:1/b:2/c:3"}
}

test_digest_is_everything_after_the_first_at if {
	image.parse("x@y@z") == {"domain": "docker.io", "path": "library/x", "tag": "", "digest": "y@z", "normalized": "docker.io/library/x@y@z"}
}

test_a_tag_may_hold_colons if {
	image.parse("ns/app:1:2").tag == "1:2"
}

test_empty_and_odd_references_still_parse if {
	image.parse("").normalized == "docker.io/library/"
	image.parse("nginx:").tag == ""
	image.parse("a\nb:c").tag == "c"
	not image.parse(42)
}

test_the_first_component_is_a_host_by_its_dots_colons_case_or_name if {
	image.parse("localhost/app:1") == {"domain": "localhost", "path": "app", "tag": "1", "digest": "", "normalized": "localhost/app:1"}
	image.parse("Registry/app") == {"domain": "Registry", "path": "app", "tag": "", "digest": "", "normalized": "Registry/app"}
	image.parse("docker.io/Team/app").domain == "docker.io"
	image.parse("docker.io.example.com/app").domain == "docker.io.example.com"
	image.parse("team/app").domain == "docker.io"
	image.parse("/app") == {"domain": "docker.io", "path": "/app", "tag": "", "digest": "", "normalized": "docker.io//app"}
}

test_empty_separators_are_left_out_of_the_normalised_reference if {
	image.parse("reg.io/app:@sha256:1") == {"domain": "reg.io", "path": "app", "tag": "", "digest": "sha256:1", "normalized": "reg.io/app@sha256:1"}
	image.parse("app:1@").normalized == "docker.io/library/app:1"
	image.parse("a:b@c/d") == {"domain": "docker.io", "path": "library/a", "tag": "b", "digest": "c/d", "normalized": "docker.io/library/a:b@c/d"}
}

test_image_versions_split_tag_and_digest_like_parse if {
	containers := [
		{"name": "a", "image": "reg:5000/shop/api:1.4@sha256:ab"},
		{"name": "b", "image": ""},
		{"name": "c", "image": "nginx"},
	]
	obj := {"kind": "Deployment", "spec": {"template": {"spec": {"containers": containers}}}}
	versions := image.obj_image_versions with input as {"review": {"object": obj, "kind": {"kind": "Deployment"}}}
	versions == [[containers[0], "1.4", "sha256:ab"], [containers[2], "", ""]]
}
