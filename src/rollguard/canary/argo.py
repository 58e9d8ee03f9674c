"""Argo Rollouts AnalysisTemplates that ask rollguard for the canary verdict: as a Job, or from `rollguard serve`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

API_VERSION = "argoproj.io/v1alpha1"
CONFIG_DIR = "/etc/rollguard"
CONFIG_FILE = f"{CONFIG_DIR}/rollguard.yaml"


@dataclass(frozen=True)
class TemplateOptions:
    """What the templates run and ask: the image, Prometheus, the config's ConfigMap, the server and the timing."""

    image: str
    prometheus: str | None = None  # None: the Job uses canary.prometheus of the mounted config
    name: str = "rollguard-canary"
    config_map: str = "rollguard-canary"
    server: str = "https://rollguard.rollguard-system.svc"
    lookback: str = "10m"
    interval: str = "5m"
    count: int = 1
    label: str | None = None  # the web template's label; None: canary.label of the server's config
    fail_on_marginal: bool = False


def _metric(options: TemplateOptions) -> dict[str, Any]:
    """The fields every rollguard metric shares: one measurement per interval, and one failure fails the run."""
    return {"name": "rollguard-canary", "interval": options.interval, "count": options.count, "failureLimit": 0}


def job_template(options: TemplateOptions) -> dict[str, Any]:
    """The AnalysisTemplate that runs `rollguard canary judge` in a Job; its exit code decides (0 passes)."""
    args = ["canary", "judge", "--config", CONFIG_FILE]
    if options.prometheus is not None:
        args += ["--prometheus", options.prometheus]
    args += [
        "--lookback",
        options.lookback,
        "--baseline-selector",
        "{{args.baseline-selector}}",
        "--canary-selector",
        "{{args.canary-selector}}",
    ]
    if options.fail_on_marginal:
        args.append("--fail-on-marginal")
    container = {
        "name": "rollguard",
        "image": options.image,
        "args": args,
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
        # The image's non-root user with nothing writable: judging only reads.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    job = {
        "spec": {
            "backoffLimit": 0,  # a retry would judge again and could turn a fail into a pass
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": options.config_map}}],
                }
            },
        }
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": f"{options.name}-job"},
        "spec": {
            "args": [{"name": "baseline-selector"}, {"name": "canary-selector"}],
            "metrics": [{**_metric(options), "provider": {"job": job}}],
        },
    }


def web_body(options: TemplateOptions) -> str:
    """The JSON the web metric posts to /canary/judge, with Argo's `{{args.…}}` placeholders for the versions.

    Versions, not selectors: Argo substitutes arguments as plain text, and a selector's double
    quotes would break the JSON around them.
    """
    body: dict[str, Any] = {
        "baseline": {"version": "{{args.baseline-version}}"},
        "canary": {"version": "{{args.canary-version}}"},
        "lookback": options.lookback,
        "fail_on_marginal": options.fail_on_marginal,
    }
    if options.label is not None:
        body["label"] = options.label
    return json.dumps(body, separators=(",", ":"))


def web_template(options: TemplateOptions) -> dict[str, Any]:
    """The AnalysisTemplate that posts to `rollguard serve`'s /canary/judge; the verdict in the answer decides.

    nodata matches neither condition, so Argo counts the measurement inconclusive and pauses the rollout.
    """
    passing = ["pass"] if options.fail_on_marginal else ["pass", "marginal"]
    failing = ["fail", "marginal"] if options.fail_on_marginal else ["fail"]
    web = {
        "method": "POST",
        "url": f"{options.server.rstrip('/')}/canary/judge",
        "timeoutSeconds": 60,
        "headers": [{"key": "Content-Type", "value": "application/json"}],
        "body": web_body(options),
    }
    metric = {
        **_metric(options),
        "successCondition": " || ".join(f"result.verdict == '{v}'" for v in passing),
        "failureCondition": " || ".join(f"result.verdict == '{v}'" for v in failing),
        "provider": {"web": web},
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": {"name": f"{options.name}-web"},
        "spec": {"args": [{"name": "baseline-version"}, {"name": "canary-version"}], "metrics": [metric]},
    }


def analysis_templates(options: TemplateOptions) -> dict[str, dict[str, Any]]:
    """File name → AnalysisTemplate, for the Job metric and the web metric."""
    job, web = job_template(options), web_template(options)
    return {f"{job['metadata']['name']}.yaml": job, f"{web['metadata']['name']}.yaml": web}


def render_yaml(document: dict[str, Any]) -> str:
    """One template as YAML, in the order it was built."""
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120)
