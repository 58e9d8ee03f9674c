# METADATA
# title: No credentials written into the pipeline
# description: >-
#   A pipeline file is read by everyone with access to the repository and
#   copied into every fork, log and cache. Reports an `env:` (GitHub, at
#   workflow, job or step level) or `variables:` (GitLab, global or job)
#   entry whose name looks like a credential (name_pattern, default password,
#   passwd, token, secret, api_key, access_key) and whose value is a literal:
#   non-empty and without any `${{ ... }}` expression or `$VAR` reference. The
#   value itself is never repeated in the finding. Critical: the credential is
#   already exposed to everyone who can read the repository and its history, and
#   must be rotated.
# scope: package
# custom:
#   id: pipeline.plaintext_secret
#   severity: critical
#   controls: ["SOC2:CC6.1", "NIST-800-53:IA-5", "NIST-800-53:SC-28", "NIST-800-53:CM-5", "ISO27001:A.5.17"]
#   remediation: >-
#     Rotate the credential now (it is in the repository's history), store the
#     new one as a secret (GitHub `${{ secrets.NAME }}`, a masked and protected
#     GitLab CI/CD variable) and reference it instead of the value.
#   applies_to: [PipelineDefinition]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       name_pattern:
#         type: string
#         default: "(?i)(password|passwd|token|secret|api_key|access_key)"
#         description: Regular expression (RE2) matched against variable names.
#   example_allowed: |
#     env:
#       DEPLOY_TOKEN: ${{ secrets.DEPLOY_TOKEN }}
#   example_disallowed: |
#     env:
#       DEPLOY_TOKEN: glpat-3f9a8c7e2d1b
package rollguard.pipeline.plaintext_secret

violation contains {"msg": msg, "details": d} if {
	some variable in input.artifact.variables
	is_string(variable.name)
	regex.match(name_pattern, variable.name)
	value := variable.value
	is_string(value)
	trim_space(value) != ""
	not contains(value, "$")
	d := {"name": variable.name, "scope": variable.scope, "job": variable.job, "line": variable.line}
	msg := sprintf("%s %s is set to a literal value in the pipeline file: anyone who can read the repository has the credential; reference a secret instead", [where(variable), variable.name])
}

where(variable) := sprintf("variable of job %q:", [variable.job]) if {
	is_string(variable.job)
} else := "pipeline-wide variable"

name_pattern := input.parameters.name_pattern if {
	is_string(input.parameters.name_pattern)
	input.parameters.name_pattern != ""
} else := "(?i)(password|passwd|token|secret|api_key|access_key)"
