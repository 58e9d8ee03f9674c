# METADATA
# title: Resources behind a load balancer are replaced create-before-destroy
# description: >-
#   When Terraform must replace a resource it destroys the old one first unless
#   create_before_destroy is in effect. For a resource that serves traffic
#   behind a load balancer, that leaves the balancer with a missing target (or
#   a listener forwarding to a deleted target group) until the replacement is
#   created and passes its health checks. Reports a resource the plan replaces
#   in the order ["delete", "create"] that serves a load balancer: an instance,
#   Auto Scaling group or other target attached to a target group or classic ELB
#   (the group's target_group_arns, load_balancers or traffic_source; an
#   aws_lb_target_group_attachment, aws_autoscaling_attachment,
#   aws_autoscaling_traffic_source_attachment or aws_elb_attachment; an
#   aws_elb's instances), a target group that an aws_lb_listener or listener
#   rule forwards to, or a launch template or launch configuration that such an
#   Auto Scaling group launches from. The order ["create", "delete"] means
#   create_before_destroy is in effect, set on the resource or inherited from a
#   resource that depends on it. High: traffic behind the load balancer has
#   nowhere to go from the destroy until the replacement is created and healthy.
# scope: package
# custom:
#   id: terraform.replace_without_create_before_destroy
#   severity: high
#   controls: ["SOC2:CC8.1", "NIST-800-53:CM-3", "NIST-800-53:CP-10", "ISO27001:A.8.32"]
#   remediation: >-
#     Add `lifecycle { create_before_destroy = true }` to the resource, and let
#     the provider choose unique names (`name_prefix` instead of `name`) so the
#     old and new resource can exist side by side.
#   applies_to: [TerraformPlan]
#   parameters:
#     type: object
#     additionalProperties: false
#     properties: {}
#   example_allowed: |
#     resource "aws_launch_configuration" "web" {
#       name_prefix = "web-"
#       lifecycle { create_before_destroy = true }
#     }
#   example_disallowed: |
#     resource "aws_launch_configuration" "web" {
#       name = "web"   # replaced destroy-first while the group behind the ALB uses it
#     }
package rollguard.terraform.replace_without_create_before_destroy

violation contains {"msg": msg, "details": d} if {
	some rc in input.artifact.resource_changes
	rc.mode == "managed"
	rc.actions == ["delete", "create"]
	count(rc.load_balanced_by) > 0
	balancers := {b.balancer | some b in rc.load_balanced_by}
	d := {"address": rc.address, "actions": rc.actions, "load_balanced_by": rc.load_balanced_by, "line": rc.line}
	msg := sprintf("%s is replaced by destroying it before its replacement exists while it serves traffic behind %s: until the new one is created and healthy that traffic has nowhere to go; set lifecycle { create_before_destroy = true }", [rc.address, concat(", ", sort([b | some b in balancers]))])
}
