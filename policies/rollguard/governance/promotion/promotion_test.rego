package rollguard.governance.promotion_test

import data.rollguard.governance.promotion

digest_a := "sha256:aaaa"

digest_b := "sha256:bbbb"

image(ref, digest) := {"image": ref, "digest": digest, "workload": "Deployment shop/web", "file": "k8s/web.yaml", "line": 3}

run(images, previous, store, passed, parameters) := v if {
	v := promotion.violation with input as {
		"artifact": {"kind": "ChangeRequest", "metadata": {"name": "prod"}, "images": images},
		"parameters": parameters,
	}
		with data.rollguard.context as {
			"environment": {"name": "prod", "risk": "high", "previous": previous},
			"promotion": {"previous": previous, "store": store, "passed_digests": passed},
			"now_ns": 0,
		}
}

test_promoted_digest_passes if {
	count(run([image("reg/web@sha256:aaaa", digest_a)], "staging", true, [digest_a, digest_b], {})) == 0
}

test_digest_not_passed_in_previous if {
	run([image("reg/web@sha256:aaaa", digest_a)], "staging", true, [digest_b], {}) == {{
		"msg": "image reg/web@sha256:aaaa of Deployment shop/web (k8s/web.yaml:3) has not passed staging: no passed, non-dry-run decision there deployed digest sha256:aaaa; promote it through staging first",
		"details": {
			"environment": "prod",
			"previous": "staging",
			"image": "reg/web@sha256:aaaa",
			"workload": "Deployment shop/web",
			"source": "k8s/web.yaml:3",
			"digest": "sha256:aaaa",
		},
	}}
}

test_image_without_digest if {
	run([image("reg/web:2.4", null)], "staging", true, [digest_a], {}) == {{
		"msg": "image reg/web:2.4 of Deployment shop/web (k8s/web.yaml:3) has no @sha256 digest, so its promotion from staging cannot be proven; pin it by digest",
		"details": {
			"environment": "prod",
			"previous": "staging",
			"image": "reg/web:2.4",
			"workload": "Deployment shop/web",
			"source": "k8s/web.yaml:3",
		},
	}}
	count(run([image("reg/web:2.4", null)], "staging", true, [digest_a], {"require_digest": false})) == 0
}

test_no_store if {
	run([image("reg/web@sha256:aaaa", digest_a)], "staging", false, [], {}) == {{
		"msg": "cannot verify promotion: no decision store (give --store, or `store:` in rollguard.yaml, or record into .rollguard/decisions.db); images deployed to prod must have passed staging first",
		"details": {"environment": "prod", "previous": "staging"},
	}}
	# Even a change without images says so: nothing was verified.
	count(run([], "staging", false, [], {})) == 1
}

test_unreadable_store if {
	v := promotion.violation with input as {
		"artifact": {"kind": "ChangeRequest", "metadata": {"name": "prod"}, "images": [image("reg/web:2.4", null)]},
		"parameters": {},
	}
		with data.rollguard.context as {
			"environment": {"name": "prod", "risk": "high", "previous": "staging"},
			"promotion": {"previous": "staging", "store": true, "passed_digests": [], "error": "decision store x: connection refused"},
			"now_ns": 0,
		}
	v == {{
		"msg": "cannot verify promotion: the decision store could not be read (decision store x: connection refused); images deployed to prod must have passed staging first",
		"details": {"environment": "prod", "previous": "staging", "error": "decision store x: connection refused"},
	}}
}

test_first_environment_is_not_judged if {
	count(run([image("reg/web:2.4", null)], null, false, [], {})) == 0
	count(run([image("reg/web@sha256:aaaa", digest_a)], null, true, [], {})) == 0
}
