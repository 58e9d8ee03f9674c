"""The PipelineDefinition document: its shape, its jobs, and the deploy commands read from their scripts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rollguard.inputs.pipeline.reading import _line, _scalar_text, _str

API_VERSION = "rollguard.io/v1"
KIND = "PipelineDefinition"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|days?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?)\b", re.IGNORECASE)
_UNIT_MINUTES = {"d": 1440, "h": 60, "m": 1, "s": 1 / 60}
_TOOL = re.compile(r"(?:^|[\s;&|(/`])(kubectl|helm|argocd|kustomize)(?=\s)")
_SEGMENT_END = re.compile(r"\|\||&&|[|;]")
# (tool, pattern over the rest of the command, verb), first match wins.
_VERBS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("kubectl", re.compile(r"\brollout\s+status\b"), "rollout-status"),
    ("kubectl", re.compile(r"\brollout\s+undo\b"), "rollout-undo"),
    ("kubectl", re.compile(r"\bset\s+image\b"), "set-image"),
    ("kubectl", re.compile(r"\bapply\b"), "apply"),
    ("kubectl", re.compile(r"\bkustomize\b"), "build"),
    ("helm", re.compile(r"\brollback\b"), "rollout-undo"),
    ("helm", re.compile(r"\b(?:upgrade|install)\b"), "upgrade"),
    ("argocd", re.compile(r"\bapp\s+rollback\b"), "rollout-undo"),
    ("argocd", re.compile(r"\bapp\s+wait\b"), "rollout-status"),
    ("argocd", re.compile(r"\bapp\s+sync\b"), "sync"),
    ("kustomize", re.compile(r"\bbuild\b"), "build"),
)
_TIMEOUT_FLAG = re.compile(r"--(?:request-)?timeout\b")
_TIMEOUT_PREFIX = re.compile(r"\btimeout\s+(?:-\S+\s+)*\d")
# Verbs that change what runs: a job with one of these (or a deploy action) is a deploy job.
MUTATING_VERBS = frozenset({"apply", "set-image", "upgrade", "sync", "rollout-undo"})
_DEPLOY_ACTION = re.compile(r"/[^@]*deploy", re.IGNORECASE)


def _document(name: str, system: str, title: str | None, triggers: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name},
        "system": system,
        "file": name,
        "name": title,
        "triggers": triggers,
        "includes": [],
        "variables": [],
        "permissions": None,
        "stages": [],
        "jobs": [],
    }


def _variables(value: Any, *, scope: str, job: str | None, step: str | None) -> list[dict[str, Any]]:
    """`env:`/`variables:` entries with their literal text (GitLab's `{value: ...}` form unwrapped)."""
    if not isinstance(value, dict):
        return []
    out = []
    for key, raw in value.items():
        line = _line(value, key)
        if isinstance(raw, dict):
            raw = raw.get("value")
        out.append(
            {"name": str(key), "value": _scalar_text(raw), "scope": scope, "job": job, "step": step, "line": line}
        )
    return out


def parse_image(ref: Any, line: int | None) -> dict[str, Any] | None:
    """A container image reference split into name, tag and digest (both null when the runtime would use latest)."""
    if not isinstance(ref, str) or not ref.strip():
        return None
    ref = ref.strip()
    rest, _, digest = ref.partition("@")
    name, sep, tag = rest.rpartition(":")
    if not sep or "/" in tag:
        name, tag = rest, ""
    return {"ref": ref, "name": name, "tag": tag or None, "digest": digest or None, "line": line}


def _timeout_minutes(value: Any) -> int | None:
    """`timeout-minutes: 30` or GitLab's `timeout: 1h 30m` in whole minutes (rounded up); None when unset or unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(-(-value // 1)) if value > 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    total = 0.0
    matched = False
    for amount, unit in _DURATION.findall(text):
        total += float(amount) * _UNIT_MINUTES[unit[0].lower()]
        matched = True
    return int(-(-total // 1)) if matched and total > 0 else None


def logical_lines(script: str, line: int | None) -> list[tuple[str, int | None]]:
    """The lines of a shell script with `\\` continuations joined, each with the line it starts on."""
    out: list[tuple[str, int | None]] = []
    physical = script.split("\n")
    index = 0
    while index < len(physical):
        start = index
        logical = physical[index]
        while logical.rstrip().endswith("\\") and index + 1 < len(physical):
            index += 1
            logical = logical.rstrip()[:-1] + " " + physical[index]
        index += 1
        out.append((logical, line + start if line is not None else None))
    return out


def deploy_commands(script: str, line: int | None) -> list[dict[str, Any]]:
    """kubectl/helm/argocd/kustomize commands in a shell script, each with the line it starts on."""
    found: list[dict[str, Any]] = []
    for logical, start_line in logical_lines(script, line):
        command = logical.split("#", 1)[0] if logical.lstrip().startswith("#") else logical
        for m in _TOOL.finditer(command):
            tool = m.group(1)
            rest = command[m.end() :]
            end = _SEGMENT_END.search(rest)
            segment = rest[: end.start()] if end else rest
            verb = next((v for t, pattern, v in _VERBS if t == tool and pattern.search(segment)), None)
            if verb is None:
                continue
            timeout = bool(_TIMEOUT_FLAG.search(segment) or _TIMEOUT_PREFIX.search(command[: m.start() + 1]))
            found.append(
                {
                    "tool": tool,
                    "verb": verb,
                    "timeout": timeout,
                    "command": (tool + segment).strip(),
                    "line": start_line,
                }
            )
    return found


def _environment(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and value:
        return {"name": value, "url": None, "action": None}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return {"name": value["name"], "url": _str(value.get("url")), "action": _str(value.get("action"))}
    return None


def _job(job_id: str, line: int | None, file: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "name": job_id,
        "file": file,
        "line": line,
        "stage": None,
        "environment": None,
        "needs": [],
        "approval": False,
        "timeout_minutes": None,
        "concurrency": None,
        "image": None,
        "actions_used": [],
        "steps": [],
        "runs_on_failure": False,
        "deploy_commands": [],
        "deploys": False,
        "when": None,
        "stage_index": None,
        "after": [],
        "permissions": None,
        "secrets_used": [],
        "checkouts": [],
        "builds_images": [],
        "smoke_tests": [],
        "stamps": [],
        "teardown": False,
        "inferred_environment": None,
    }


def _finish(job: dict[str, Any]) -> dict[str, Any]:
    job["deploys"] = (
        any(c["verb"] in MUTATING_VERBS for c in job["deploy_commands"])
        or any(_DEPLOY_ACTION.search(a["uses"]) for a in job["actions_used"])
        or (job["environment"] is not None and job["environment"]["action"] in (None, "start"))
    )
    return job


@dataclass
class _Command:
    """One logical line of a `run:`/`script:` and the step it belongs to."""

    text: str
    line: int | None
    step: int


@dataclass
class _Input:
    """One `with:` input of an action step."""

    uses: str
    key: str
    text: str
    line: int | None
    step: int


@dataclass
class _JobText:
    """The text of a job that the derived facts are read from."""

    commands: list[_Command] = field(default_factory=list)
    inputs: list[_Input] = field(default_factory=list)
    needs_given: bool = False

    def add_script(self, script: str, line: int | None, step: int) -> None:
        for text, start in logical_lines(script, line):
            if text.strip() and not text.lstrip().startswith("#"):
                self.commands.append(_Command(text.strip(), start, step))
