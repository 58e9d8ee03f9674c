package rollguard.terraform.health_check_test

import data.rollguard.terraform.health_check

balanced := [{"balancer": "aws_lb_target_group.web", "via": "target_group_arns"}]

asg(actions, kind, balancers) := {
	"address": "module.app.aws_autoscaling_group.web",
	"mode": "managed",
	"type": "aws_autoscaling_group",
	"actions": actions,
	"line": 7,
	"load_balanced_by": balancers,
	"autoscaling": {"health_check_type": kind},
}

run(changes) := v if {
	v := health_check.violation with input as {
		"artifact": {"kind": "TerraformPlan", "resource_changes": changes},
		"parameters": {},
	}
}

test_ec2_check_behind_a_target_group if {
	run([asg(["create"], "EC2", balanced)]) == {{
		"msg": "module.app.aws_autoscaling_group.web serves aws_lb_target_group.web but its health_check_type is \"EC2\": instances that fail the load balancer's health check are never replaced, and an instance refresh counts them as healthy",
		"details": {
			"address": "module.app.aws_autoscaling_group.web",
			"health_check_type": "EC2",
			"load_balanced_by": balanced,
			"line": 7,
		},
	}}
	count(run([asg(["update"], "EC2", balanced)])) == 1
	count(run([asg(["no-op"], "EC2", balanced)])) == 1
	count(run([asg(["delete", "create"], "EC2", balanced)])) == 1
}

test_elb_check_or_no_balancer if {
	count(run([asg(["create"], "ELB", balanced)])) == 0
	count(run([asg(["create"], "elb", balanced)])) == 0
	count(run([asg(["create"], "ELB,EBS", balanced)])) == 0
	count(run([asg(["create"], "EC2", [])])) == 0
}

test_deleted_or_unknown_not_judged if {
	count(run([asg(["delete"], "EC2", balanced)])) == 0
	count(run([asg(["update"], null, balanced)])) == 0
	count(run([object.union(asg(["create"], "EC2", balanced), {"type": "aws_instance"})])) == 0
}
