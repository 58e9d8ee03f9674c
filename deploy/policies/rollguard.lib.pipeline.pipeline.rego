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

# The environment a deploy job targets: the `environment` it declares, else the one the loader
# inferred from its name, namespace, context, helm release or deploy command (`inferred_environment`).
target_environment(job) := job.environment.name if {
	is_string(job.environment.name)
} else := job.inferred_environment.name if {
	is_string(job.inferred_environment.name)
}

# The job declares an `environment:` (GitHub protection rules and GitLab environments attach to it).
declares_environment(job) if is_string(job.environment.name)

# The job declares no environment and one was inferred: it has no environment's protection rules.
inferred(job) if {
	not declares_environment(job)
	is_string(job.inferred_environment.name)
	is_string(job.inferred_environment.inferred_from)
	is_string(job.inferred_environment.value)
}

# Where an inferred environment came from, for messages; "" for a declared one.
inference(job) := sprintf("inferred from its %s %q, as the job declares no `environment:`", [
	job.inferred_environment.inferred_from, job.inferred_environment.value,
]) if {
	inferred(job)
} else := ""

# How a message names the job's environment: `prod (why; inferred from ...)`, or just the name.
environment_phrase(job, why) := sprintf("%s (%s)", [target_environment(job), concat("; ", parts)]) if {
	parts := [p | some p in [why, inference(job)]; p != ""]
	count(parts) > 0
} else := target_environment(job)

# The details that name the job's environment, with how it was inferred when it was.
environment_details(job) := {
	"environment": target_environment(job),
	"environment_inferred_from": job.inferred_environment.inferred_from,
	"environment_evidence": job.inferred_environment.value,
} if {
	inferred(job)
} else := {"environment": target_environment(job)}
