package rollguard.lib.pipeline_test

import data.rollguard.lib.pipeline

test_environment_named if {
	pipeline.environment_named("Production", ["prod", "production"])
	pipeline.environment_named("prod-eu", ["prod"])
	pipeline.environment_named("production/web", ["production"])
	pipeline.environment_named("PROD_us", ["prod"])
	not pipeline.environment_named("production2", ["production"])
	not pipeline.environment_named("staging", ["prod", "production"])
	not pipeline.environment_named("prod", [42])
}

declared := {"id": "deploy", "environment": {"name": "production", "url": null, "action": null}, "inferred_environment": null}

guessed := {
	"id": "deploy-prod",
	"environment": null,
	"inferred_environment": {"name": "prod", "inferred_from": "job name", "value": "deploy-prod", "line": 3},
}

test_target_environment_prefers_the_declared_one if {
	pipeline.target_environment(declared) == "production"
	pipeline.target_environment(guessed) == "prod"
	pipeline.target_environment(object.union(guessed, {"environment": {"name": "qa"}})) == "qa"
	not pipeline.target_environment({"id": "build", "environment": null, "inferred_environment": null})
}

test_inferred_environment_in_messages_and_details if {
	not pipeline.inferred(declared)
	pipeline.inferred(guessed)
	pipeline.environment_phrase(declared, "") == "production"
	pipeline.environment_phrase(declared, "a production environment") == "production (a production environment)"
	pipeline.environment_phrase(guessed, "") == "prod (inferred from its job name \"deploy-prod\", as the job declares no `environment:`)"
	pipeline.environment_phrase(guessed, "why") == "prod (why; inferred from its job name \"deploy-prod\", as the job declares no `environment:`)"
	pipeline.environment_details(declared) == {"environment": "production"}
	pipeline.environment_details(guessed) == {
		"environment": "prod",
		"environment_inferred_from": "job name",
		"environment_evidence": "deploy-prod",
	}
}
