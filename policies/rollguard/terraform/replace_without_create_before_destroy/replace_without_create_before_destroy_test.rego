package rollguard.terraform.replace_without_create_before_destroy_test

import data.rollguard.terraform.replace_without_create_before_destroy

change(actions, balanced) := {
	"address": "aws_launch_configuration.web",
	"mode": "managed",
	"type": "aws_launch_configuration",
	"actions": actions,
	"line": 40,
	"load_balanced_by": balanced,
}

served := [
	{"balancer": "aws_lb_target_group.web", "via": "aws_autoscaling_group.web"},
	{"balancer": "aws_elb.legacy", "via": "aws_autoscaling_group.web"},
	{"balancer": "aws_lb_target_group.web", "via": "aws_autoscaling_group.canary"},
]

run(changes) := v if {
	v := replace_without_create_before_destroy.violation with input as {
		"artifact": {"kind": "TerraformPlan", "resource_changes": changes},
		"parameters": {},
	}
}

test_destroy_first_behind_a_balancer if {
	run([change(["delete", "create"], served)]) == {{
		"msg": "aws_launch_configuration.web is replaced by destroying it before its replacement exists while it serves traffic behind aws_elb.legacy, aws_lb_target_group.web: until the new one is created and healthy that traffic has nowhere to go; set lifecycle { create_before_destroy = true }",
		"details": {
			"address": "aws_launch_configuration.web",
			"actions": ["delete", "create"],
			"load_balanced_by": served,
			"line": 40,
		},
	}}
}

test_create_before_destroy_or_no_balancer if {
	count(run([change(["create", "delete"], served)])) == 0
	count(run([change(["delete", "create"], [])])) == 0
}

test_other_actions if {
	count(run([change(["update"], served)])) == 0
	count(run([change(["delete"], served)])) == 0
	count(run([change(["create"], served)])) == 0
	count(run([object.union(change(["delete", "create"], served), {"mode": "data"})])) == 0
}
