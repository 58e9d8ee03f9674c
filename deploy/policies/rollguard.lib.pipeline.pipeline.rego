# METADATA
# title: Pipeline helpers
# description: >-
#   Shared helpers for rollguard's CI pipeline policies (input.artifact is a
#   PipelineDefinition, docs/pipelines.md).
# scope: package
package rollguard.lib.pipeline

# Whether environment `name` is one of `names`: equal ignoring case, or one of them followed by
# "-", "_" or "/" (`prod-eu`, `production/web`), so `production2` is not `production`.
environment_named(name, names) if {
	some p in names
	is_string(p)
	lower(name) == lower(p)
}

environment_named(name, names) if {
	some p in names
	is_string(p)
	some sep in ["-", "_", "/"]
	startswith(lower(name), concat("", [lower(p), sep]))
}
