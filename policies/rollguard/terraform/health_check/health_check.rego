# METADATA
# title: Auto Scaling groups behind a load balancer use its health check
# description: >-
#   An Auto Scaling group's default health check type is EC2: an instance is
#   healthy while the virtual machine runs, whatever the load balancer thinks
#   of it. Behind a load balancer that means an instance whose application
#   fails the load balancer's health check is neither replaced nor counted as
#   unhealthy, so a rolling instance refresh carries on over broken instances.
#   Reports an aws_autoscaling_group that is not being deleted, serves a target
#   group or classic ELB (target_group_arns, load_balancers or traffic_source
#   set, or an aws_autoscaling_attachment or
#   aws_autoscaling_traffic_source_attachment naming it), and whose
#   health_check_type is not ELB (unset means EC2). A type computed only
#   during apply is not judged. Medium because EC2 health checks still replace
#   dead instances; only instances whose application fails on a running machine
#   are missed.
# scope: package
# custom:
#   id: terraform.health_check
#   severity: medium
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:SI-13", "ISO27001:A.8.32"]
#   remediation: >-
#     Set `health_check_type = "ELB"` and a `health_check_grace_period` long
#     enough for an instance to boot and pass the load balancer's health check.
#   applies_to: [TerraformPlan]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     resource "aws_autoscaling_group" "web" {
#       target_group_arns         = [aws_lb_target_group.web.arn]
#       health_check_type         = "ELB"
#       health_check_grace_period = 120
#     }
#   example_disallowed: |
#     resource "aws_autoscaling_group" "web" {
#       target_group_arns = [aws_lb_target_group.web.arn]
#       # health_check_type defaults to "EC2"
#     }
package rollguard.terraform.health_check

violation contains {"msg": msg, "details": d} if {
	some rc in input.artifact.resource_changes
	rc.mode == "managed"
	rc.type == "aws_autoscaling_group"
	rc.actions != ["delete"]
	count(rc.load_balanced_by) > 0
	kind := rc.autoscaling.health_check_type
	is_string(kind)
	not load_balancer_check(kind)
	balancers := {b.balancer | some b in rc.load_balanced_by}
	d := {"address": rc.address, "health_check_type": kind, "load_balanced_by": rc.load_balanced_by, "line": rc.line}
	msg := sprintf("%s serves %s but its health_check_type is %q: instances that fail the load balancer's health check are never replaced, and an instance refresh counts them as healthy", [rc.address, concat(", ", sort([b | some b in balancers])), kind])
}

# Also accepts a combined list of types ("ELB,EBS").
load_balancer_check(kind) if {
	some part in split(upper(kind), ",")
	trim_space(part) == "ELB"
}
