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
