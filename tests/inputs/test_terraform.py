"""Reading Terraform plans: detection, the TerraformPlan document, load-balancing facts, bad input, and the corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollguard.contract import build_changeset
from rollguard.gate import Gate
from rollguard.inputs import load_change_set
from rollguard.inputs.scan import is_scan
from rollguard.inputs.terraform import base_address, is_plan, load_text

TG_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/6d0ecf831eec9f09"


def change(address: str, rtype: str, actions: list[str], before: Any = None, after: Any = None, **extra: Any) -> Any:
    """One resource_changes entry as `terraform show -json` writes it."""
    return {
        "address": address,
        **({"module_address": extra.pop("module")} if "module" in extra else {}),
        "mode": "managed",
        "type": rtype,
        "name": address.rsplit(".", 1)[-1].split("[", 1)[0],
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": extra.pop("unknown", {})},
        **extra,
    }


def resource(address: str, rtype: str, expressions: dict[str, Any], mode: str = "managed") -> dict[str, Any]:
    """One configuration resource."""
    name = address.rsplit(".", 1)[-1]
    return {"address": address, "mode": mode, "type": rtype, "name": name, "expressions": expressions}


def refs(*references: str) -> dict[str, Any]:
    return {"references": list(references)}


def plan(changes: list[Any], resources: list[Any] | None = None, **root: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format_version": "1.2",
        "terraform_version": "1.9.5",
        "planned_values": {
            "root_module": {"resources": [{"address": c["address"]} for c in changes if "address" in c]}
        },
        "resource_changes": changes,
    }
    if resources is not None:
        doc["configuration"] = {"root_module": {"resources": resources, **root}}
    return doc


def document(raw: dict[str, Any], *, indent: int | None = 2) -> dict[str, Any]:
    artifacts, problems = load_text("plan.json", json.dumps(raw, indent=indent))
    assert problems == []
    return dict(artifacts[0].document)


def changes_by_address(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["address"]: c for c in doc["resource_changes"]}


# --- detection and routing ---


def test_detection_is_by_content() -> None:
    text = json.dumps(plan([]))
    assert is_plan("anything.txt", text) and is_plan("plan.out", text)
    assert is_plan("x.json", json.dumps({"format_version": "0.1", "terraform_version": "0.12.3"}))
    assert not is_plan("x.json", json.dumps({"format_version": "1.0"}))  # nothing says Terraform
    assert not is_plan("x.json", json.dumps({"SchemaVersion": 2, "Results": []}))
    assert not is_plan(
        "deploy.json", json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"format_version": "1"}})
    )
    assert not is_plan("deploy.yaml", "format_version: '1.0'\nresource_changes: []\n")
    truncated = json.dumps(plan([change("aws_instance.web", "aws_instance", ["create"])]), indent=2)[:150]
    assert is_plan("plan.json", truncated)
    assert not is_scan("plan.json", json.dumps(plan([])))


def test_change_set_routes_plans_reports_manifests_and_other_json(tmp_path: Path) -> None:
    (tmp_path / "tfplan.json").write_text(json.dumps(plan([])))
    (tmp_path / "scan.json").write_text(json.dumps({"SchemaVersion": 2, "ArtifactName": "app:1", "Results": []}))
    (tmp_path / "pod.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}))
    (tmp_path / "other.json").write_text(json.dumps({"name": "not a plan"}))
    (tmp_path / "broken.json").write_text('{\n  "format_version": "1.2",\n  "resource_changes": [\n    {"address": \n')
    change_set = load_change_set([str(tmp_path)])
    kinds = sorted((Path(a.file).name, a.kind) for a in change_set.artifacts)
    assert kinds == [("pod.json", "k8s"), ("scan.json", "scan"), ("tfplan.json", "terraform")]
    plans = build_changeset(change_set.artifacts)["terraform"]
    assert [p["kind"] for p in plans] == ["TerraformPlan"]  # data.rollguard.changeset.terraform
    problems = {Path(p.file).name: p for p in change_set.problems}
    assert sorted(problems) == ["broken.json", "other.json"]
    # Unrelated JSON still goes to the manifest loader, as before plans were read.
    assert problems["other.json"].message.startswith("document has no apiVersion or kind")
    assert problems["broken.json"].line == 5
    assert problems["broken.json"].message.startswith("invalid JSON in a Terraform plan: Expecting value")
    assert "terraform show -json" in problems["broken.json"].message


def test_empty_directory_message_is_unchanged(tmp_path: Path) -> None:
    change_set = load_change_set([str(tmp_path)])
    assert [p.message for p in change_set.problems] == [
        "nothing to judge: no .yaml, .yml, .json or .sql files in this folder; check the path (or pass --allow-empty)"
    ]


# --- the document ---


def test_document_fields_actions_and_lines() -> None:
    raw = plan(
        [
            change("aws_instance.web[0]", "aws_instance", ["delete", "create"], {"ami": "a"}, {"ami": "b"}),
            change("aws_launch_configuration.web", "aws_launch_configuration", ["create", "delete"], {}, {}),
            change("aws_s3_bucket.logs", "aws_s3_bucket", ["no-op"], {}, {}),
        ]
    )
    raw["resource_changes"][0]["change"]["replace_paths"] = [["ami"]]
    raw["resource_changes"][0]["action_reason"] = "replace_because_cannot_update"
    text = json.dumps(raw, indent=2)
    doc = document(raw)
    assert doc["apiVersion"] == "rollguard.io/v1" and doc["kind"] == "TerraformPlan"
    assert doc["metadata"] == {"name": "plan.json"} and doc["file"] == "plan.json"
    assert doc["format_version"] == "1.2" and doc["terraform_version"] == "1.9.5"
    web, launch, bucket = doc["resource_changes"]
    assert web["address"] == "aws_instance.web[0]" and web["base_address"] == "aws_instance.web"
    assert (web["replace"], web["create_before_destroy"]) == (True, False)
    assert (launch["replace"], launch["create_before_destroy"]) == (True, True)
    assert (bucket["replace"], bucket["create_before_destroy"]) == (False, False)
    assert web["replace_paths"] == [["ami"]] and web["action_reason"] == "replace_because_cannot_update"
    assert web["before"] == {"ami": "a"} and web["after"] == {"ami": "b"} and web["after_unknown"] == {}
    # The line of each change's "address" key inside resource_changes, not the same address in planned_values.
    lines = text.splitlines()
    for c in doc["resource_changes"]:
        assert lines[c["line"] - 1].strip() == f'"address": {json.dumps(c["address"])},'
        assert c["line"] > text[: text.index('"resource_changes"')].count("\n") + 1
    # `terraform show -json` writes one line: every change is on line 1.
    assert {c["line"] for c in document(raw, indent=None)["resource_changes"]} == {1}


def test_base_address() -> None:
    assert base_address('module.app[0].aws_instance.web["a.b[1]"]') == "module.app.aws_instance.web"
    assert base_address("data.aws_lb.main") == "data.aws_lb.main"


def test_references_follow_module_variables_and_outputs() -> None:
    asg = "module.app.aws_autoscaling_group.web"
    raw = plan(
        [
            change(
                asg, "aws_autoscaling_group", ["create"], None, {"target_group_arns": [TG_ARN]}, module="module.app"
            ),
            change("module.lb.aws_lb_target_group.web", "aws_lb_target_group", ["no-op"], {}, {}, module="module.lb"),
        ],
        [],
        module_calls={
            "app": {
                "expressions": {"groups": refs("module.lb.target_group_arn", "module.lb")},
                "module": {
                    "resources": [
                        resource(
                            "aws_autoscaling_group.web",
                            "aws_autoscaling_group",
                            {"target_group_arns": refs("var.groups"), "health_check_type": refs("var.check")},
                        )
                    ]
                },
            },
            "lb": {
                "module": {
                    "outputs": {"target_group_arn": {"expression": refs("aws_lb_target_group.web.arn")}},
                    "resources": [resource("aws_lb_target_group.web", "aws_lb_target_group", {})],
                }
            },
        },
    )
    doc = document(raw)
    group = changes_by_address(doc)[asg]
    assert group["references"] == {"target_group_arns": ["module.lb.aws_lb_target_group.web"]}
    assert group["load_balanced_by"] == [{"balancer": "module.lb.aws_lb_target_group.web", "via": "target_group_arns"}]
    # Set from a variable whose value is only known at apply: not guessed.
    assert group["autoscaling"]["health_check_type"] is None


def test_load_balancing_edges_of_every_kind() -> None:
    resources = [
        resource("aws_lb.main", "aws_lb", {}),
        resource("aws_lb_target_group.web", "aws_lb_target_group", {}),
        resource("aws_elb.legacy", "aws_elb", {"instances": refs("aws_instance.old[0]", "aws_instance.old")}),
        resource(
            "aws_lb_listener.https",
            "aws_lb_listener",
            {
                "load_balancer_arn": refs("aws_lb.main.arn", "aws_lb.main"),
                "default_action": [
                    {"target_group_arn": refs("aws_lb_target_group.web.arn", "aws_lb_target_group.web")}
                ],
            },
        ),
        resource(
            "aws_lb_target_group_attachment.api",
            "aws_lb_target_group_attachment",
            {"target_group_arn": refs("aws_lb_target_group.web.arn"), "target_id": refs("aws_instance.api.id")},
        ),
        resource(
            "aws_autoscaling_attachment.web",
            "aws_autoscaling_attachment",
            {"autoscaling_group_name": refs("aws_autoscaling_group.web.id"), "elb": refs("aws_elb.legacy.id")},
        ),
        resource(
            "aws_autoscaling_group.web",
            "aws_autoscaling_group",
            {
                "target_group_arns": refs("data.aws_lb_target_group.shared.arn"),
                "launch_template": [{"id": refs("aws_launch_template.web.id"), "version": refs("var.version")}],
            },
        ),
        resource("aws_autoscaling_group.batch", "aws_autoscaling_group", {"load_balancers": refs("var.elbs")}),
        resource("aws_launch_template.web", "aws_launch_template", {}),
        resource("aws_lb_target_group.shared", "aws_lb_target_group", {}, mode="data"),
    ]
    raw = plan(
        [
            change(
                "aws_autoscaling_group.batch",
                "aws_autoscaling_group",
                ["create"],
                None,
                {"load_balancers": ["batch-elb"]},
            )
        ],
        resources,
    )
    edges = document(raw)["load_balancing"]
    assert sorted((e["target"], e["balancer"], e["via"]) for e in edges) == sorted(
        [
            ("aws_instance.old", "aws_elb.legacy", "aws_elb.legacy.instances"),
            ("aws_lb_target_group.web", "aws_lb.main", "aws_lb_listener.https"),
            ("aws_instance.api", "aws_lb_target_group.web", "aws_lb_target_group_attachment.api"),
            ("aws_autoscaling_group.web", "aws_elb.legacy", "aws_autoscaling_attachment.web"),
            ("aws_autoscaling_group.web", "data.aws_lb_target_group.shared", "target_group_arns"),
            # A variable of the root module has no resource behind it: the planned value names the balancer.
            ("aws_autoscaling_group.batch", "batch-elb", "load_balancers"),
            ("aws_launch_template.web", "aws_elb.legacy", "aws_autoscaling_group.web"),
            ("aws_launch_template.web", "data.aws_lb_target_group.shared", "aws_autoscaling_group.web"),
        ]
    )


def test_plan_without_configuration_uses_planned_values() -> None:
    raw = plan(
        [change("aws_autoscaling_group.web", "aws_autoscaling_group", ["update"], {}, {"target_group_arns": [TG_ARN]})]
    )
    group = changes_by_address(document(raw))["aws_autoscaling_group.web"]
    assert group["load_balanced_by"] == [{"balancer": TG_ARN, "via": "target_group_arns"}]
    assert group["references"] == {} and group["autoscaling"]["health_check_type"] == "EC2"


def test_autoscaling_facts() -> None:
    template = {"id": "lt-1", "name": None, "version": "3"}
    spec = {"launch_template_name": "spot", "version": "$Latest"}
    template_ref = refs("aws_launch_template.web.id")
    before = {"launch_template": [template], "health_check_type": "ELB", "instance_refresh": []}
    after = {
        "launch_template": [{**template, "version": "4"}],
        "health_check_type": "ELB",
        "instance_refresh": [
            {"strategy": "Rolling", "preferences": [{"min_healthy_percentage": 75}], "triggers": ["tag"]}
        ],
    }
    # A mixed instances policy nests its template two blocks deep, in the plan and in the configuration.
    spot = {"mixed_instances_policy": [{"launch_template": [{"launch_template_specification": [spec]}]}]}
    spot_config = [{"launch_template": [{"launch_template_specification": [{"launch_template_id": template_ref}]}]}]
    raw = plan(
        [
            change("aws_autoscaling_group.web", "aws_autoscaling_group", ["update"], before, after),
            change("aws_launch_template.web", "aws_launch_template", ["update"], {}, {}),
            change("aws_autoscaling_group.spot", "aws_autoscaling_group", ["no-op"], spot, spot),
        ],
        [
            resource(
                "aws_autoscaling_group.web",
                "aws_autoscaling_group",
                {"launch_template": [{"id": refs("aws_launch_template.web")}]},
            ),
            resource("aws_autoscaling_group.spot", "aws_autoscaling_group", {"mixed_instances_policy": spot_config}),
            resource("aws_launch_template.web", "aws_launch_template", {}),
        ],
    )
    by_address = changes_by_address(document(raw))
    assert by_address["aws_autoscaling_group.web"]["autoscaling"] == {
        "launch_template": {"id": "lt-1", "name": None, "version": "4"},
        "launch_configuration": None,
        "launch_sources": ["aws_launch_template.web"],
        "launch_changes": ["launch_template"],
        "launch_sources_changing": ["aws_launch_template.web"],
        "health_check_type": "ELB",
        "instance_refresh": {"strategy": "Rolling", "min_healthy_percentage": 75, "triggers": ["tag"]},
    }
    facts = by_address["aws_autoscaling_group.spot"]["autoscaling"]
    assert facts["launch_template"] == {"id": None, "name": "spot", "version": "$Latest"}
    assert facts["launch_changes"] == [] and facts["launch_sources_changing"] == ["aws_launch_template.web"]
    assert by_address["aws_launch_template.web"]["autoscaling"] is None


# --- bad input ---


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"format_version": "1.2",\n "resource_changes": [,]}', 2, "invalid JSON in a Terraform plan"),
        ('{"format_version": "2.0", "resource_changes": []}', 1, "unsupported Terraform JSON format_version '2.0'"),
        ('{"format_version": 1, "resource_changes": []}', 1, "unsupported Terraform JSON format_version 1"),
        ('{"format_version": "1.0", "terraform_version": "1.9.5", "values": {}}', 1, "is state, not a plan"),
        ('{"format_version": "1.2", "resource_changes": {}}', 1, "resource_changes should be a JSON array"),
        ("[1]", 1, "expected a Terraform JSON plan (an object), got a JSON list"),
    ],
)
def test_unusable_plans_are_problems(text: str, line: int, message: str) -> None:
    artifacts, problems = load_text("tfplan.json", text)
    assert artifacts == [] and len(problems) == 1
    assert (problems[0].file, problems[0].line) == ("tfplan.json", line)
    assert message in problems[0].message


def test_a_change_without_address_is_reported_and_the_rest_judged() -> None:
    raw = plan([change("aws_instance.web", "aws_instance", ["create"]), {"mode": "managed"}, "junk"])
    artifacts, problems = load_text("tfplan.json", json.dumps(raw))
    assert [c["address"] for c in artifacts[0].document["resource_changes"]] == ["aws_instance.web"]
    assert [p.message for p in problems] == [
        "resource_changes[1] has no address; it was not judged",
        "resource_changes[2] has no address; it was not judged",
    ]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "address",
                    "type",
                    "change",
                    "actions",
                    "after",
                    "before",
                    "after_unknown",
                    "expressions",
                    "references",
                    "resources",
                    "module_calls",
                    "module",
                    "outputs",
                    "expression",
                    "launch_template",
                    "target_group_arns",
                    "instance_refresh",
                    "preferences",
                    "root_module",
                    "aws_autoscaling_group",
                ]
            ),
            c,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(_JSON, _JSON)
def test_arbitrary_plans_never_crash(changes: Any, configuration: Any) -> None:
    raw = {"format_version": "1.2", "resource_changes": changes, "configuration": configuration}
    artifacts, problems = load_text("x.json", json.dumps(raw))
    assert artifacts or problems
    asg = change("aws_autoscaling_group.web", "aws_autoscaling_group", ["update"], changes, configuration)
    artifacts, _ = load_text("x.json", json.dumps({**raw, "resource_changes": [asg]}))
    assert artifacts[0].document["resource_changes"][0]["autoscaling"] is not None


@given(st.text(max_size=300))
def test_random_text_never_crashes(text: str) -> None:
    for candidate in (text, '{"format_version": "1.0", "resource_changes": [' + text):
        if is_plan("x.json", candidate):
            artifacts, problems = load_text("x.json", candidate)
            assert artifacts or problems


# --- the corpus: real plans nobody here wrote ---


def _corpus_plans(corpus: Path) -> Path:
    folder = corpus / "terraform-plans"
    if not folder.is_dir():
        pytest.skip("no Terraform plans in the corpus")
    return folder


def _plan(corpus: Path, relative: str) -> dict[str, Any]:
    artifacts, problems = load_text(relative, (_corpus_plans(corpus) / relative).read_text(encoding="utf-8"))
    assert problems == []
    return dict(artifacts[0].document)


def test_every_corpus_plan_loads(corpus: Path) -> None:
    change_set = load_change_set([str(_corpus_plans(corpus))])
    assert change_set.problems == ()
    assert [a.kind for a in change_set.artifacts] == ["terraform"] * 7
    for a in change_set.artifacts:
        for c in a.document["resource_changes"]:
            assert isinstance(c["line"], int) and c["line"] > 0 and c["actions"]


def test_corpus_facts(corpus: Path) -> None:
    # checkov's pretty-printed plan: the changes start at line 205 and 302 (planned_values come first).
    tags = changes_by_address(_plan(corpus, "checkov/tests/terraform/parser/resources/plan_tags_variety/tfplan.json"))
    assert tags["aws_autoscaling_group.example"]["line"] == 205
    assert tags["aws_autoscaling_group.example2"]["line"] == 302
    assert tags["aws_autoscaling_group.example"]["autoscaling"]["instance_refresh"] is None  # `instance_refresh: []`
    assert tags["aws_autoscaling_group.example2"]["load_balanced_by"] == []
    # The secret is replaced create-before-destroy (actions [create, delete]).
    deleted = _plan(corpus, "checkov/tests/terraform/runner/resources/plan_with_deleted_resources/tfplan.json")
    secret = deleted["resource_changes"][0]
    assert (secret["replace"], secret["create_before_destroy"], secret["line"]) == (True, True, 33)
    # A group behind a classic ELB with health_check_type ELB, launching from a launch configuration.
    elb = _plan(corpus, "terraform-compliance/tests/functional/test_issue-127/plan.out.json")
    assert {(e["target"], e["balancer"], e["via"]) for e in elb["load_balancing"]} == {
        ("aws_autoscaling_group.example", "aws_elb.example", "load_balancers"),
        ("aws_launch_configuration.example", "aws_elb.example", "aws_autoscaling_group.example"),
    }
    assert changes_by_address(elb)["aws_autoscaling_group.example"]["autoscaling"]["health_check_type"] == "ELB"
    # The group in a module reaches the ALB's target group through module.alb's output.
    mixed = changes_by_address(_plan(corpus, "terraform-compliance/tests/functional/test_issue-249/plan.out.json"))
    group = mixed["module.myapp-asg.aws_autoscaling_group.asg"]
    assert group["load_balanced_by"] == [
        {"balancer": "module.alb.aws_alb_target_group.alb", "via": "target_group_arns"}
    ]
    assert group["autoscaling"]["health_check_type"] == "EC2"
    assert mixed["module.alb.aws_alb_target_group.alb"]["load_balanced_by"] == [
        {"balancer": "module.alb.aws_alb.alb", "via": "module.alb.aws_alb_listener.alb"}
    ]
    latest = changes_by_address(_plan(corpus, "terraform-compliance/tests/functional/test_issue-279/plan.out.json"))
    assert latest["aws_autoscaling_group.bar"]["autoscaling"]["launch_template"]["version"] == "$Latest"


def test_corpus_findings(corpus: Path, gate: Gate) -> None:
    decision = gate.judge(load_change_set([str(_corpus_plans(corpus))]))
    assert decision.errors == ()
    found = {(Path(f.file or "").parent.name, f.policy, f.details.get("address"), f.line) for f in decision.findings}
    assert found == {
        # The ASG behind module.alb's target group keeps the EC2 health check (variable default "EC2").
        ("test_issue-249", "terraform.health_check", "module.myapp-asg.aws_autoscaling_group.asg", 1),
        # A new group launching from "$Latest".
        ("test_issue-279", "terraform.asg_instance_refresh", "aws_autoscaling_group.bar", 1),
    }
    messages = {f.policy: f.message for f in decision.findings}
    assert messages["terraform.health_check"] == (
        "module.myapp-asg.aws_autoscaling_group.asg serves module.alb.aws_alb_target_group.alb but its "
        'health_check_type is "EC2": instances that fail the load balancer\'s health check are never replaced, '
        "and an instance refresh counts them as healthy"
    )
