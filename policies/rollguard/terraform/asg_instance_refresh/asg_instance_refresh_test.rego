package rollguard.terraform.asg_instance_refresh_test

import data.rollguard.terraform.asg_instance_refresh

asg(actions, facts) := {
	"address": "aws_autoscaling_group.web",
	"mode": "managed",
	"type": "aws_autoscaling_group",
	"actions": actions,
	"line": 12,
	"autoscaling": object.union(
		{
			"launch_template": {"id": "lt-0abc", "name": null, "version": "3"},
			"launch_changes": ["launch_template"],
			"launch_sources_changing": [],
			"instance_refresh": null,
		},
		facts,
	),
}

refresh(minimum) := {"strategy": "Rolling", "min_healthy_percentage": minimum, "triggers": []}

run(changes, parameters) := v if {
	v := asg_instance_refresh.violation with input as {
		"artifact": {"kind": "TerraformPlan", "resource_changes": changes},
		"parameters": parameters,
	}
}

test_launch_change_without_refresh if {
	run([asg(["update"], {})], {}) == {{
		"msg": "aws_autoscaling_group.web changes its launch_template but has no instance_refresh block: running instances keep the old launch settings and only instances launched later get the new ones",
		"details": {"address": "aws_autoscaling_group.web", "launch_changes": ["launch_template"], "line": 12},
	}}
}

test_refresh_below_minimum if {
	run([asg(["update"], {"instance_refresh": refresh(50)})], {}) == {{
		"msg": "aws_autoscaling_group.web refreshes its instances with min_healthy_percentage 50, below 90: the refresh may take too much of the group out of service at once",
		"details": {"address": "aws_autoscaling_group.web", "min_healthy_percentage": 50, "minimum": 90, "line": 12},
	}}
	count(run([asg(["update"], {"instance_refresh": refresh(90)})], {})) == 0
	count(run([asg(["update"], {"instance_refresh": refresh(95)})], {"min_healthy_percentage": 100})) == 1
	count(run([asg(["update"], {"instance_refresh": refresh(50)})], {"min_healthy_percentage": 50})) == 0
}

test_unset_minimum_is_the_aws_default_90 if {
	count(run([asg(["update"], {"instance_refresh": refresh(null)})], {})) == 0
	run([asg(["update"], {"instance_refresh": refresh(null)})], {"min_healthy_percentage": 95}) == {{
		"msg": "aws_autoscaling_group.web refreshes its instances with min_healthy_percentage 90, below 95: the refresh may take too much of the group out of service at once",
		"details": {"address": "aws_autoscaling_group.web", "min_healthy_percentage": 90, "minimum": 95, "line": 12},
	}}
}

test_created_replaced_or_unchanged_groups_need_no_refresh if {
	count(run([asg(["create"], {})], {})) == 0
	count(run([asg(["delete", "create"], {})], {})) == 0
	count(run([asg(["create", "delete"], {})], {})) == 0
	count(run([asg(["update"], {"launch_changes": []})], {})) == 0
	count(run([asg(["no-op"], {"launch_changes": []})], {})) == 0
}

latest := {"id": "lt-0abc", "name": null, "version": "$Latest"}

latest_violation := {
	"msg": "aws_autoscaling_group.web launches from launch template version \"$Latest\": a new template version leaves the group unchanged, so no instance refresh ever starts and running instances keep the old version; use the template's latest_version attribute",
	"details": {"address": "aws_autoscaling_group.web", "version": "$Latest", "line": 12},
}

test_latest_version if {
	run([asg(["create"], {"launch_template": latest, "launch_changes": []})], {}) == {latest_violation}
	run([asg(["update"], {"launch_template": latest, "launch_changes": [], "instance_refresh": refresh(90)})], {}) == {latest_violation}

	# Unchanged itself while its template gets a new version: exactly the rollout that never happens.
	changing := {"launch_template": latest, "launch_changes": [], "launch_sources_changing": ["aws_launch_template.web"]}
	run([asg(["no-op"], changing)], {}) == {latest_violation}

	# Neither the group nor its template changes: nothing in this plan is rolled out.
	count(run([asg(["no-op"], {"launch_template": latest, "launch_changes": []})], {})) == 0
	count(run([asg(["create"], {"launch_template": object.union(latest, {"version": "$Default"}), "launch_changes": []})], {})) == 0
}

test_other_resources_ignored if {
	count(run([object.union(asg(["update"], {}), {"type": "aws_instance"})], {})) == 0
	count(run([object.union(asg(["update"], {}), {"mode": "data"})], {})) == 0
}
