"""GitHub Actions workflows: jobs, steps, actions and the facts read from them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rollguard.inputs.pipeline.document import (
    _document,
    _environment,
    _finish,
    _Input,
    _job,
    _JobText,
    _timeout_minutes,
    _variables,
    deploy_commands,
    parse_image,
)
from rollguard.inputs.pipeline.environments import _Patterns
from rollguard.inputs.pipeline.facts import _derive, _job_permissions, _job_secrets, _permissions, _secrets
from rollguard.inputs.pipeline.reading import _item_line, _line, _scalar_text, _str, _strings, _Unusable, _value_line
from rollguard.model import InputProblem

_SHA = re.compile(r"^[0-9a-f]{40}$")


def _triggers(on: Any) -> list[str]:
    if isinstance(on, str):
        return [on]
    if isinstance(on, list):
        return [t for t in on if isinstance(t, str)]
    if isinstance(on, dict):
        return [str(k) for k in on]
    return []


def _action(uses: str, line: int | None) -> dict[str, Any] | None:
    """A `uses:` reference; None for actions in the same repository (`./path`)."""
    if uses.startswith("./"):
        return None
    if uses.startswith("docker://"):
        image = parse_image(uses[len("docker://") :], line) or {}
        return {
            "uses": uses,
            "owner": None,
            "ref": image.get("digest") or image.get("tag"),
            "pinned_sha": bool(image.get("digest")),
            "line": line,
        }
    path, _, ref = uses.partition("@")
    return {
        "uses": uses,
        "owner": path.split("/", 1)[0],
        "ref": ref or None,
        "pinned_sha": bool(_SHA.match(ref)),
        "line": line,
    }


def _concurrency(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("group")
    return _scalar_text(value)


def _github(name: str, doc: Mapping[Any, Any], problems: list[InputProblem], patterns: _Patterns) -> dict[str, Any]:
    on = doc.get("on", doc.get(True))
    document = _document(name, "github", _str(doc.get("name")), _triggers(on))
    document["variables"] = _variables(doc.get("env"), scope="workflow", job=None, step=None)
    document["permissions"] = _permissions(doc.get("permissions"), _line(doc, "permissions"))
    workflow_secrets = _secrets(doc.get("env"), _value_line(doc, "env"))
    workflow_concurrency = _concurrency(doc.get("concurrency"))
    texts: dict[str, _JobText] = {}
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict):
        raise _Unusable(_line(doc, "jobs"), "`jobs` must be a mapping of job ids to jobs")
    for job_id, raw in jobs.items():
        line = _line(jobs, job_id)
        if not isinstance(raw, dict):
            problems.append(InputProblem(name, line, f"job {job_id!r} is not a mapping; it was not judged"))
            continue
        job = _job(str(job_id), line, name)
        text = texts[job["id"]] = _JobText()
        job["name"] = _scalar_text(raw.get("name")) or str(job_id)
        job["permissions"] = _job_permissions(raw, document["permissions"])
        job["secrets_used"] = _job_secrets(raw, workflow_secrets)
        job["environment"] = _environment(raw.get("environment"))
        job["approval"] = job["environment"] is not None
        job["needs"] = _strings(raw.get("needs"))
        job["timeout_minutes"] = _timeout_minutes(raw.get("timeout-minutes"))
        job["concurrency"] = _concurrency(raw.get("concurrency")) or workflow_concurrency
        container = raw.get("container")
        image_line = _value_line(raw, "container")
        if isinstance(container, dict):
            image_line = _value_line(container, "image")
            container = container.get("image")
        job["image"] = parse_image(container, image_line)
        job["if"] = _scalar_text(raw.get("if"))
        if job["if"] and "failure()" in job["if"]:
            job["runs_on_failure"] = True
        document["variables"] += _variables(raw.get("env"), scope="job", job=str(job_id), step=None)
        if isinstance(raw.get("uses"), str):  # a reusable workflow
            action = _action(raw["uses"], _value_line(raw, "uses"))
            if action:
                job["actions_used"].append(action)
        steps = raw.get("steps")
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            if not isinstance(step, dict):
                problems.append(
                    InputProblem(name, _item_line(steps, index), f"a step of job {job_id!r} is not a mapping")
                )
                continue
            _github_step(job, step, index, document, text)
        document["jobs"].append(_finish(job))
    _derive(document, texts, patterns)
    return document


def _github_step(
    job: dict[str, Any], step: Mapping[Any, Any], index: int, document: dict[str, Any], text: _JobText
) -> None:
    line = getattr(step, "line", None)
    uses = _str(step.get("uses"))
    run = _scalar_text(step.get("run"))
    condition = _scalar_text(step.get("if"))
    title = _scalar_text(step.get("name")) or _scalar_text(step.get("id")) or uses or f"step {index + 1}"
    job["steps"].append({"name": title, "run": run, "uses": uses, "if": condition, "line": line})
    if condition and "failure()" in condition:
        job["runs_on_failure"] = True
    if uses:
        action = _action(uses, _value_line(step, "uses"))
        if action:
            job["actions_used"].append(action)
    if run:
        job["deploy_commands"] += deploy_commands(run, _value_line(step, "run"))
        text.add_script(run, _value_line(step, "run"), len(job["steps"]) - 1)
    inputs = step.get("with")
    if uses and isinstance(inputs, dict):
        for key, value in inputs.items():
            if (input_text := _scalar_text(value)) is not None:
                text.inputs.append(_Input(uses, str(key), input_text, _value_line(inputs, key), len(job["steps"]) - 1))
    document["variables"] += _variables(step.get("env"), scope="step", job=job["id"], step=title)
