# METADATA
# title: Auto Scaling groups roll out launch changes with an instance refresh
# description: >-
#   Changing an existing aws_autoscaling_group's launch template, launch
#   configuration or mixed instances policy only changes what the group
#   launches next: the running instances keep the old settings until something
#   replaces them. An `instance_refresh` block makes Terraform start a rolling
#   replacement when those attributes change. Reports a group updated in place
#   whose launch attributes change without an `instance_refresh` block, or with
#   one whose `preferences.min_healthy_percentage` (AWS default 90 when unset)
#   is below min_healthy_percentage (default 90). Groups being created or
#   replaced launch every instance from the new settings and need no refresh.
#   Also reports a group that launches from launch template version `$Latest`
#   when the group is created or updated, or when its launch template changes
#   in the plan: a new template version then leaves the group's own
#   attributes unchanged, so the group never sees a change to roll, no
#   instance refresh starts, and old and new versions run side by side until
#   instances happen to be replaced. Medium because without a refresh the new
#   launch settings roll out late rather than wrongly: running instances keep
#   the old ones until they are replaced.
# scope: package
# custom:
#   id: terraform.asg_instance_refresh
#   severity: medium
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "ISO27001:A.8.32"]
#   remediation: >-
#     Add `instance_refresh { strategy = "Rolling" preferences { min_healthy_percentage = 90 } }`
#     to the group, and pin the launch template version to the template's
#     `latest_version` attribute (`version = aws_launch_template.web.latest_version`)
#     instead of "$Latest", so every new template version is a change the group rolls out.
#   applies_to: [TerraformPlan]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties:
#       min_healthy_percentage:
#         type: integer
#         minimum: 0
#         maximum: 100
#         default: 90
#         description: Lowest acceptable instance_refresh preferences.min_healthy_percentage.
#   example_allowed: |
#     resource "aws_autoscaling_group" "web" {
#       launch_template {
#         id      = aws_launch_template.web.id
#         version = aws_launch_template.web.latest_version
#       }
#       instance_refresh {
#         strategy = "Rolling"
#         preferences { min_healthy_percentage = 90 }
#       }
#     }
#   example_disallowed: |
#     resource "aws_autoscaling_group" "web" {
#       launch_template {
#         id      = aws_launch_template.web.id
#         version = "$Latest"
#       }
#     }
package rollguard.terraform.asg_instance_refresh

violation contains {"msg": msg, "details": d} if {
	some rc in groups
	rolling(rc)
	rc.autoscaling.instance_refresh == null
	d := {"address": rc.address, "launch_changes": rc.autoscaling.launch_changes, "line": rc.line}
	msg := sprintf("%s changes its %s but has no instance_refresh block: running instances keep the old launch settings and only instances launched later get the new ones", [rc.address, concat(", ", rc.autoscaling.launch_changes)])
}

violation contains {"msg": msg, "details": d} if {
	some rc in groups
	rolling(rc)
	refresh := rc.autoscaling.instance_refresh
	is_object(refresh)
	healthy := min_healthy(refresh)
	healthy < minimum
	d := {"address": rc.address, "min_healthy_percentage": healthy, "minimum": minimum, "line": rc.line}
	msg := sprintf("%s refreshes its instances with min_healthy_percentage %d, below %d: the refresh may take too much of the group out of service at once", [rc.address, healthy, minimum])
}

violation contains {"msg": msg, "details": d} if {
	some rc in groups
	rc.autoscaling.launch_template.version == "$Latest"
	judged_for_latest(rc)
	d := {"address": rc.address, "version": "$Latest", "line": rc.line}
	msg := sprintf("%s launches from launch template version \"$Latest\": a new template version leaves the group unchanged, so no instance refresh ever starts and running instances keep the old version; use the template's latest_version attribute", [rc.address])
}

groups contains rc if {
	some rc in input.artifact.resource_changes
	rc.mode == "managed"
	rc.type == "aws_autoscaling_group"
	is_object(rc.autoscaling)
}

# An existing group changed in place: Terraform starts an instance refresh only from such an update.
rolling(rc) if {
	rc.actions == ["update"]
	count(rc.autoscaling.launch_changes) > 0
}

judged_for_latest(rc) if "create" in rc.actions

judged_for_latest(rc) if "update" in rc.actions

judged_for_latest(rc) if count(rc.autoscaling.launch_sources_changing) > 0

# AWS uses 90 when preferences.min_healthy_percentage is not set.
min_healthy(refresh) := refresh.min_healthy_percentage if {
	is_number(refresh.min_healthy_percentage)
} else := 90

minimum := input.parameters.min_healthy_percentage if {
	is_number(input.parameters.min_healthy_percentage)
} else := 90
