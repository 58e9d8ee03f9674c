"""`rollguard canary template`: the Argo Rollouts AnalysisTemplates it writes, field by field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from rollguard.canary.argo import TemplateOptions, analysis_templates
from rollguard.cli import main
from rollguard.webhook.canary import parse_judge_request

IMAGE = "registry.example.com/rollguard:0.1.0@sha256:" + "0" * 64


def write(tmp_path: Path, *args: str) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(main, ["canary", "template", "--image", IMAGE, "--out", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote rollguard-canary-job.yaml, rollguard-canary-web.yaml to {tmp_path}\n"
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(tmp_path.glob("*.yaml"))}


def test_the_job_template_runs_canary_judge_with_the_selectors_as_arguments(tmp_path: Path) -> None:
    job = write(tmp_path, "--prometheus", "http://prometheus.monitoring.svc:9090", "--lookback", "15m")[
        "rollguard-canary-job.yaml"
    ]
    assert (job["apiVersion"], job["kind"], job["metadata"]) == (
        "argoproj.io/v1alpha1",
        "AnalysisTemplate",
        {"name": "rollguard-canary-job"},
    )
    assert job["spec"]["args"] == [{"name": "baseline-selector"}, {"name": "canary-selector"}]
    (metric,) = job["spec"]["metrics"]
    assert {k: metric[k] for k in ("name", "interval", "count", "failureLimit")} == {
        "name": "rollguard-canary",
        "interval": "5m",
        "count": 1,
        "failureLimit": 0,
    }
    assert "successCondition" not in metric  # the Job's exit code decides
    spec = metric["provider"]["job"]["spec"]
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["volumes"] == [{"name": "config", "configMap": {"name": "rollguard-canary"}}]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["args"] == [
        "canary", "judge", "--config", "/etc/rollguard/rollguard.yaml",
        "--prometheus", "http://prometheus.monitoring.svc:9090", "--lookback", "15m",
        "--baseline-selector", "{{args.baseline-selector}}", "--canary-selector", "{{args.canary-selector}}",
    ]  # fmt: skip
    assert container["volumeMounts"] == [{"name": "config", "mountPath": "/etc/rollguard", "readOnly": True}]
    assert container["securityContext"]["runAsNonRoot"] is True


def test_the_web_template_posts_a_body_the_server_accepts(tmp_path: Path) -> None:
    web = write(tmp_path, "--server", "https://rollguard.ops.svc:8443/", "--label", "rollouts_pod_template_hash")[
        "rollguard-canary-web.yaml"
    ]
    assert web["spec"]["args"] == [{"name": "baseline-version"}, {"name": "canary-version"}]
    (metric,) = web["spec"]["metrics"]
    assert metric["successCondition"] == "result.verdict == 'pass' || result.verdict == 'marginal'"
    assert metric["failureCondition"] == "result.verdict == 'fail'"
    provider = metric["provider"]["web"]
    assert (provider["method"], provider["url"], provider["timeoutSeconds"]) == (
        "POST",
        "https://rollguard.ops.svc:8443/canary/judge",
        60,
    )
    assert provider["headers"] == [{"key": "Content-Type", "value": "application/json"}]
    assert "jsonPath" not in provider  # `result` is the whole judgement
    # Argo substitutes arguments as plain text; the body must then be a request /canary/judge takes.
    body = provider["body"].replace("{{args.baseline-version}}", "6d4f8b7c9").replace("{{args.canary-version}}", "7f9c")
    request = parse_judge_request(body.encode())
    assert (request.baseline.version, request.canary.version, request.label) == (
        "6d4f8b7c9",
        "7f9c",
        "rollouts_pod_template_hash",
    )
    assert (request.lookback, request.fail_on_marginal) == ("10m", False)


def test_fail_on_marginal_moves_marginal_to_the_failure_condition() -> None:
    options = TemplateOptions(image=IMAGE, fail_on_marginal=True)
    templates = analysis_templates(options)
    (metric,) = templates["rollguard-canary-web.yaml"]["spec"]["metrics"]
    assert metric["successCondition"] == "result.verdict == 'pass'"
    assert metric["failureCondition"] == "result.verdict == 'fail' || result.verdict == 'marginal'"
    assert json.loads(metric["provider"]["web"]["body"])["fail_on_marginal"] is True
    (job,) = templates["rollguard-canary-job.yaml"]["spec"]["metrics"]
    args = job["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-1] == "--fail-on-marginal" and "--prometheus" not in args  # the config's canary.prometheus


def test_without_out_both_templates_are_printed_and_an_unpinned_image_is_warned_about() -> None:
    result = CliRunner().invoke(main, ["canary", "template", "--image", "rollguard:latest"])
    assert result.exit_code == 0
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout)]
    assert names == ["rollguard-canary-job", "rollguard-canary-web"]
    assert "--image rollguard:latest is not pinned by a sha256 digest" in result.stderr


def test_bad_options_are_usage_errors() -> None:
    bad = CliRunner().invoke(main, ["canary", "template", "--image", IMAGE, "--interval", "often"])
    assert bad.exit_code == 2 and "--interval: 'often' is not a positive duration" in bad.stderr
    url = CliRunner().invoke(main, ["canary", "template", "--image", IMAGE, "--prometheus", "prometheus:9090"])
    assert url.exit_code == 2 and "is not an http(s) URL" in url.stderr


def _paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Key paths of a document, list positions left out."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _paths(value, path)
    elif isinstance(node, list):
        for item in node:
            yield from _paths(item, prefix)


def test_the_analysis_fields_are_those_upstream_examples_use(corpus: Path) -> None:
    examples = corpus / "k8s-manifests" / "argo-rollouts" / "examples"
    upstream: set[str] = set()
    for path in examples.rglob("*.yaml"):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue  # one upstream file is not plain YAML (see the corpus notes)
        for document in documents:
            if isinstance(document, dict) and document.get("kind") in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
                upstream |= set(_paths(document))
    ours: set[str] = set()
    for document in analysis_templates(TemplateOptions(image=IMAGE)).values():
        ours |= set(_paths(document))
    # The Job's pod spec is a Kubernetes PodSpec and the web provider's fields are checked against Argo's
    # web metric docs; every other field must be one the upstream examples use.
    pod = "spec.metrics.provider.job.spec.template.spec."
    documented_web = {f"spec.metrics.provider.web.{k}" for k in ("method", "timeoutSeconds", "headers", "body")}
    documented_web |= {"spec.metrics.provider.web.headers.key", "spec.metrics.provider.web.headers.value"}
    documented_web |= {"spec.metrics.failureCondition"}
    unknown = {p for p in ours - upstream if not p.startswith(pod)} - documented_web
    assert unknown == set()
    assert {"spec.metrics.provider.job.spec.backoffLimit", "spec.metrics.successCondition"} <= upstream
