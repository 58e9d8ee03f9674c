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
