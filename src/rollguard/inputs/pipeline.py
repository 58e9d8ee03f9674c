"""CI pipeline definitions (GitHub Actions, GitLab CI): one `PipelineDefinition` document per file (docs/pipelines.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from rollguard.inputs.yamltext import SafeLoader, UnsafeDocument, problem_of, too_deep_error
from rollguard.model import Artifact, InputProblem, Resource

API_VERSION = "rollguard.io/v1"
KIND = "PipelineDefinition"

# GitLab keywords that sit at the top level beside jobs and are not jobs themselves.
_GITLAB_GLOBALS = frozenset(
    {
        "stages",
        "variables",
        "image",
        "services",
        "before_script",
        "after_script",
        "cache",
        "include",
        "default",
        "workflow",
        "types",
        "spec",
    }
)
_EXTENDS_DEPTH = 11  # GitLab's own limit on `extends` nesting
_INCLUDE_DEPTH = 10
_SHA = re.compile(r"^[0-9a-f]{40}$")
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


class _Map(dict[Any, Any]):
    """A YAML mapping that remembers the line of each key and of the first line of each scalar value."""

    line: int = 0
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]


class _Seq(list[Any]):
    """A YAML sequence that remembers the first line of each item."""

    line: int = 0
    item_lines: list[int]


def _content_line(node: yaml.Node) -> int:
    # A block scalar (`run: |`) starts on the line after its indicator.
    style = getattr(node, "style", None)
    return node.start_mark.line + (2 if style in ("|", ">") else 1)


class _LineLoader(SafeLoader):
    """Checked safe loader whose mappings and sequences carry line numbers; `!reference` is kept, not resolved."""


def _construct_map(loader: Any, node: yaml.MappingNode) -> Any:
    data = _Map()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    data.value_lines = {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            ) from None
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1
        data.value_lines[key] = _content_line(value_node)


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Any:
    data = _Seq()
    data.line = node.start_mark.line + 1
    data.item_lines = [_content_line(child) for child in node.value]
    yield data
    data.extend(loader.construct_object(child, deep=True) for child in node.value)


def _construct_reference(loader: Any, node: yaml.Node) -> dict[str, Any]:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, "!reference expects a sequence", node.start_mark)
    return {"!reference": [loader.construct_object(child, deep=True) for child in node.value]}


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
_LineLoader.add_constructor("!reference", _construct_reference)


class _Unusable(Exception):
    """YAML that cannot be read, with the line to report."""

    def __init__(self, line: int | None, message: str, *, advice: str = "; fix the syntax") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.advice = advice


def _parse(text: str) -> Any:
    """The first YAML document of `text`; raise _Unusable for anything PyYAML rejects."""
    loader = _LineLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        line, problem = problem_of(exc)
        advice = "" if isinstance(exc, UnsafeDocument) else "; fix the syntax"
        raise _Unusable(line + 1 if line is not None else None, problem, advice=advice) from exc
    except RecursionError as exc:
        line, problem = problem_of(too_deep_error(text))
        raise _Unusable(line + 1 if line is not None else None, problem, advice="") from exc
    except (ValueError, TypeError) as exc:  # e.g. bad timestamps, merge of a non-mapping
        raise _Unusable(None, f"{type(exc).__name__}: {exc}") from exc
    finally:
        loader.dispose()


def _is_pipeline_name(name: str) -> bool:
    posix = name.replace("\\", "/")
    return (
        posix.endswith(".gitlab-ci.yml") or posix.endswith(".gitlab-ci.yaml") or "/.github/workflows/" in ("/" + posix)
    )


def system_of(doc: Any) -> str | None:
    """`github` or `gitlab` when a parsed document is a pipeline definition, else None."""
    if not isinstance(doc, dict) or ("apiVersion" in doc and "kind" in doc):
        return None
    jobs = doc.get("jobs")
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as the boolean true
    if (
        on is not None
        and isinstance(jobs, dict)
        and any(isinstance(j, dict) and ("runs-on" in j or "steps" in j or "uses" in j) for j in jobs.values())
    ):
        return "github"
    if isinstance(doc.get("stages"), list) or any(
        isinstance(k, str)
        and k not in _GITLAB_GLOBALS
        and isinstance(v, dict)
        and ("script" in v or "extends" in v or "trigger" in v)
        for k, v in doc.items()
    ):
        return "gitlab"
    return None


def is_pipeline(name: str, text: str) -> bool:
    """Whether a YAML input is a CI pipeline definition, decided from its content (and, for broken YAML, its name)."""
    if name.lower().endswith((".json", ".sql")):
        return False
    named = _is_pipeline_name(name)
    if not named and not re.search(r"^(?:jobs|stages)\s*:|^[ \t]+(?:script|extends|trigger)\s*:", text, re.M):
        return False  # cheap: most manifests have none of these keys
    try:
        doc = _parse(text)
    except _Unusable:
        return named
    return system_of(doc) is not None or _is_pipeline_name(name)


def load_text(
    name: str, text: str, *, environments: Mapping[str, Sequence[str]] | None = None
) -> tuple[list[Artifact], list[InputProblem]]:
    """The `pipeline` artifact of one workflow or GitLab CI file, and the problems met reading it.

    `environments` overrides entries of DEFAULT_ENVIRONMENT_PATTERNS (rollguard.yaml `pipelines.environments`).
    """
    try:
        doc = _parse(text)
    except _Unusable as exc:
        return [], [InputProblem(name, exc.line, f"invalid YAML in a pipeline definition: {exc.message}{exc.advice}")]
    system = system_of(doc)
    if system is None:
        if _is_pipeline_name(name):
            system = "github" if "/.github/workflows/" in "/" + name.replace("\\", "/") else "gitlab"
        if not isinstance(doc, dict):
            found = "an empty file" if doc is None else f"a {type(doc).__name__}"
            return [], [InputProblem(name, 1, f"expected a pipeline definition (a mapping), found {found}")]
        if system is None:
            return [], [InputProblem(name, 1, "not a GitHub Actions workflow or a GitLab CI file; check the file")]
    problems: list[InputProblem] = []
    try:
        patterns = environment_patterns(_table_key(environments))
        read = _github if system == "github" else _gitlab
        document = read(name, doc, problems, patterns)
    except _Unusable as exc:
        return [], [*problems, InputProblem(name, exc.line, exc.message)]
    resource = Resource(api_version=API_VERSION, kind=KIND, namespace=None, name=document["metadata"]["name"])
    return [Artifact(kind="pipeline", document=document, file=name, line=1, resource=resource)], problems


# --- shared pieces ---


def _line(mapping: Any, key: Any) -> int | None:
    return mapping.key_lines.get(key) if isinstance(mapping, _Map) else None


def _value_line(mapping: Any, key: Any) -> int | None:
    return mapping.value_lines.get(key) if isinstance(mapping, _Map) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _scalar_text(value: Any) -> str | None:
    """A scalar as the text a shell would see (`true`, `3`), None for collections and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


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


# --- GitHub Actions ---


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


def _item_line(seq: Any, index: int) -> int | None:
    return seq.item_lines[index] if isinstance(seq, _Seq) and index < len(seq.item_lines) else None


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


# --- GitLab CI ---


def _gitlab(name: str, doc: Mapping[Any, Any], problems: list[InputProblem], patterns: _Patterns) -> dict[str, Any]:
    document = _document(name, "gitlab", None, [])
    config = _Map()  # the file merged with its local includes, lines kept
    config.key_lines, config.value_lines = {}, {}
    origin: dict[Any, str] = {}  # top-level key → the file it came from
    _merge_includes(name, doc, config, origin, document, problems, depth=0, seen={name})
    _merge_top(config, origin, doc, name)  # the file itself wins over what it includes
    document["triggers"] = _gitlab_triggers(config.get("workflow"))
    document["variables"] = _variables(config.get("variables"), scope="workflow", job=None, step=None)
    default: Mapping[Any, Any] = config["default"] if isinstance(config.get("default"), dict) else {}
    document["stages"] = _gitlab_stages(config.get("stages"))
    texts: dict[str, _JobText] = {}
    for key, raw in config.items():
        if not isinstance(key, str) or key in _GITLAB_GLOBALS or key.startswith("."):
            continue
        if not isinstance(raw, dict):
            continue  # a scalar top-level key is a setting GitLab would reject; not a job
        resolved = _extends(raw, config, depth=0)
        text = texts[key] = _JobText(needs_given=isinstance(resolved.get("needs"), list))
        job = _gitlab_job(key, resolved, _line(config, key), origin.get(key, name), config, default, text)
        if job["stage"] in document["stages"]:
            job["stage_index"] = document["stages"].index(job["stage"])
        document["variables"] += _variables(resolved.get("variables"), scope="job", job=key, step=None)
        document["jobs"].append(_finish(job))
    _derive(document, texts, patterns)
    return document


def _gitlab_stages(value: Any) -> list[str]:
    """The pipeline's stages in order, with GitLab's implicit `.pre` and `.post` (its defaults when unset)."""
    declared = _strings(value) if isinstance(value, list) else ["build", "test", "deploy"]
    return [".pre", *(s for s in dict.fromkeys(declared) if s not in (".pre", ".post")), ".post"]


def _gitlab_triggers(workflow: Any) -> list[str]:
    rules = workflow.get("rules") if isinstance(workflow, dict) else None
    sources: list[str] = []
    for rule in rules if isinstance(rules, list) else []:
        condition = rule.get("if") if isinstance(rule, dict) else None
        if isinstance(condition, str):
            for source in re.findall(r'\$CI_PIPELINE_SOURCE\s*==\s*["\']([\w-]+)["\']', condition):
                if source not in sources:
                    sources.append(source)
    return sources


def _includes(value: Any) -> Iterable[tuple[Any, int | None]]:
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        yield item, _item_line(value, index) if isinstance(value, list) else None


def _merge_includes(
    name: str,
    doc: Mapping[Any, Any],
    config: _Map,
    origin: dict[Any, str],
    document: dict[str, Any],
    problems: list[InputProblem],
    *,
    depth: int,
    seen: set[str],
) -> None:
    """Merge every local include of `doc` into `config` (later includes win); other kinds are only listed."""
    if "include" not in doc:
        return
    include_line = _line(doc, "include")
    for item, line in _includes(doc["include"]):
        line = line or include_line
        target: Any
        if isinstance(item, str):
            kind, target = ("remote" if re.match(r"https?://", item) else "local"), item
        elif isinstance(item, dict):
            kind = next((k for k in ("local", "remote", "template", "project", "component") if k in item), "unknown")
            target = item.get(kind)
            line = getattr(item, "line", line)
        else:
            problems.append(InputProblem(name, line, f"include entry {item!r:.60} is not a path or a mapping"))
            continue
        entry: dict[str, Any] = {
            "type": kind,
            "path": _scalar_text(target),
            "file": name,
            "line": line,
            "resolved": False,
        }
        document["includes"].append(entry)
        if kind != "local" or not isinstance(target, str):
            continue
        for path in _local_paths(name, target):
            if path is None:
                problems.append(
                    InputProblem(
                        name,
                        line,
                        f"included file {target} not found next to {PurePosixPath(name).name}; "
                        "add it to the inputs' directory or fix the path",
                    )
                )
                continue
            shown = path.as_posix()
            if shown in seen or depth >= _INCLUDE_DEPTH:
                continue
            entry["resolved"] = True
            try:
                included = _parse(path.read_text(encoding="utf-8"))
            except _Unusable as exc:
                problems.append(InputProblem(shown, exc.line, f"invalid YAML in an included CI file: {exc.message}"))
                continue
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                problems.append(InputProblem(shown, None, f"cannot read included CI file: {exc}"))
                continue
            if not isinstance(included, dict):
                problems.append(InputProblem(shown, 1, "an included CI file must be a mapping"))
                continue
            _merge_includes(shown, included, config, origin, document, problems, depth=depth + 1, seen=seen | {shown})
            _merge_top(config, origin, included, shown)


def _merge_top(config: _Map, origin: dict[Any, str], doc: Mapping[Any, Any], name: str) -> None:
    """Top-level keys of one file into the merged configuration, with their lines and file."""
    for key, value in doc.items():
        config[key] = value
        origin[key] = name
        config.key_lines[key] = _line(doc, key) or 1
        config.value_lines[key] = _value_line(doc, key) or 1


def _local_paths(name: str, target: str) -> list[Path | None]:
    """The files a local include names, relative to the including file; [None] when there are none."""
    if name.startswith("<"):
        return [None]
    base = Path(name).parent
    relative = target.lstrip("/")
    if any(c in relative for c in "*?["):
        matches = sorted(p for p in base.glob(relative) if p.is_file())
        return list(matches) or [None]
    path = base / relative
    return [path] if path.is_file() else [None]


def _deep_merge(base: Any, override: Any) -> Any:
    """GitLab's `extends` merge: mappings merge key by key, anything else is replaced."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = _Map()
    merged.line = getattr(override, "line", 0)
    merged.key_lines = {**getattr(base, "key_lines", {}), **getattr(override, "key_lines", {})}
    merged.value_lines = {**getattr(base, "value_lines", {}), **getattr(override, "value_lines", {})}
    merged.update(base)
    for key, value in override.items():
        merged[key] = _deep_merge(base.get(key), value) if key in base else value
    return merged


def _extends(raw: Mapping[Any, Any], config: Mapping[Any, Any], *, depth: int) -> Mapping[Any, Any]:
    """A job with its `extends` templates merged in; unknown templates (from remote includes) are skipped."""
    parents = _strings(raw.get("extends"))
    if not parents or depth >= _EXTENDS_DEPTH:
        return raw
    merged: Any = _Map()
    merged.key_lines = {}
    merged.value_lines = {}
    for parent in parents:
        template = config.get(parent)
        if isinstance(template, dict):
            merged = _deep_merge(merged, _extends(template, config, depth=depth + 1))
    result: _Map = _deep_merge(merged, raw)
    result.line = getattr(raw, "line", 0)
    return result


def _gitlab_job(
    job_id: str,
    raw: Mapping[Any, Any],
    line: int | None,
    file: str,
    config: Mapping[Any, Any],
    default: Mapping[Any, Any],
    text: _JobText,
) -> dict[str, Any]:
    job = _job(job_id, line, file)
    job["stage"] = _scalar_text(raw.get("stage")) or "test"
    job["environment"] = _environment(raw.get("environment"))
    when = _scalar_text(raw.get("when"))
    rules: list[Any] = raw["rules"] if isinstance(raw.get("rules"), list) else []
    rule_whens = {r.get("when") for r in rules if isinstance(r, dict)}
    job["when"] = when
    job["approval"] = when == "manual" or "manual" in rule_whens
    job["runs_on_failure"] = when == "on_failure" or "on_failure" in rule_whens
    needs = raw.get("needs")
    job["needs"] = [
        n if isinstance(n, str) else str(n.get("job"))
        for n in (needs if isinstance(needs, list) else [])
        if isinstance(n, str) or (isinstance(n, dict) and "job" in n)
    ]
    job["timeout_minutes"] = _timeout_minutes(raw.get("timeout", default.get("timeout")))
    job["concurrency"] = _scalar_text(raw.get("resource_group"))
    source, key = (raw, "image") if "image" in raw else (default, "image") if "image" in default else (config, "image")
    image = source.get(key)
    image_line = _value_line(source, key)
    if isinstance(image, dict):
        image_line = _value_line(image, "name")
        image = image.get("name")
    job["image"] = parse_image(image, image_line)
    for part in ("before_script", "script", "after_script"):
        holder = raw if part in raw else default if part in default else config if part != "script" else raw
        for command, command_line in _script(holder.get(part), _value_line(holder, part)):
            job["steps"].append({"name": part, "run": command, "uses": None, "if": None, "line": command_line})
            if command is not None:
                job["deploy_commands"] += deploy_commands(command, command_line)
                text.add_script(command, command_line, len(job["steps"]) - 1)
    return job


def _script(value: Any, line: int | None) -> list[tuple[str | None, int | None]]:
    """Commands of a `script:` (a string, a list, nested lists); a `!reference` is kept as a step without a command."""
    if isinstance(value, str):
        return [(value, line)]
    if isinstance(value, dict) and "!reference" in value:
        return [(None, line)]
    out: list[tuple[str | None, int | None]] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            out += _script(item, _item_line(value, index) or line)
    return out


# --- facts for the release policies: builds, checkouts, secrets, smoke tests, stamps, order ---

# Commands that build a container image (the first word names the tool).
_BUILD_COMMAND = re.compile(
    r"(?:^|[\s;&|(`])(?:"
    r"(?:docker|podman|nerdctl|img|depot)\s+(?:image\s+)?build\b"
    r"|docker\s+buildx\s+(?:build|bake)\b"
    r"|docker(?:\s+|-)compose\b[^;&|]*\sbuild\b"
    r"|buildah\s+(?:bud|build)\b"
    r"|buildctl\s+build\b"
    r"|\S*kaniko/executor\b"
    r"|executor\s[^;&|]*--destination\b"
    r"|az\s+acr\s+build\b"
    r"|gcloud\s+builds\s+submit\b"
    r"|pack\s+build\b"
    r"|ko\s+(?:build|publish|apply|resolve)\b"
    r"|skaffold\s+(?:build|run|dev)\b"
    r"|s2i\s+build\b"
    r"|oc\s+(?:start-build|new-build)\b"
    r"|\S*(?:mvn|mvnw|gradle|gradlew)\s[^;&|]*\bjib(?::build|:dockerBuild|DockerBuild)?\b"
    r")"
)
_BUILD_ACTION = re.compile(
    r"build-push|buildah-build|kaniko|docker-build|bake-action|s2i-build|publish-docker|(?:^|/)build-image",
    re.IGNORECASE,
)
_CHECKOUT_ACTION = re.compile(r"^actions/checkout(?:@|$)", re.IGNORECASE)
_GIT_CHECKOUT = re.compile(
    r"(?:^|[\s;&|(`])(?:git\s+(?:checkout|switch|fetch|pull|reset|worktree\s+add)|gh\s+pr\s+checkout)\b"
)
# Expressions that name the code of a pull request rather than of the base repository.
_UNTRUSTED = re.compile(
    r"github\.event\.pull_request\.head\.(?:sha|ref|repo\.full_name)"
    r"|github\.head_ref\b"
    r"|github\.event\.workflow_run\.head_(?:sha|branch|repository\.full_name)"
    r"|github\.event\.pull_request\.merge_commit_sha"
    r"|refs/pull/|\bpull/[^/\s]+/(?:head|merge)\b|\bgh\s+pr\s+checkout\b"
)
# The commit or the run of the pipeline, as each CI system names it.
_COMMIT = re.compile(
    r"\$\{?(?:GITHUB_SHA|GITHUB_RUN_ID|GITHUB_RUN_NUMBER|CI_COMMIT_SHA|CI_COMMIT_SHORT_SHA|CI_COMMIT_TAG"
    r"|CI_PIPELINE_ID|CI_PIPELINE_IID|CI_JOB_ID)\b"
    r"|github\.(?:sha|run_id|run_number|event\.pull_request\.head\.sha|event\.workflow_run\.head_sha|event\.after)\b"
    r"|\bgit\s+(?:rev-parse|describe)\b"
)
_SECRET = re.compile(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)|secrets\[\s*['\"]([^'\"]+)['\"]\s*\]")
_ASSIGNMENT = re.compile(r"(?:^|[\s;&|(`\"'])([A-Za-z_][A-Za-z0-9_]*)=([^;&|]*)")
# Tools whose command line puts what it names into the deployed objects.
_STAMP_TOOL = re.compile(
    r"(?:^|[\s;&|(/`])(?:kubectl|helm|helmfile|argocd|kustomize|skaffold|oc|kapp|flux|kn|werf|gcloud|aws|az"
    r"|sed|envsubst|yq|ecs-deploy)(?=\s)"
)
_STAMP_ACTION = re.compile(r"deploy|helm|argo|kustomize|kubectl|k8s|kube|ecs|cloud-?run|openshift", re.IGNORECASE)
_SMOKE_NAME = re.compile(r"smoke|(?<![a-z0-9])e2e(?![a-z0-9])|end[-_ ]?to[-_ ]?end|health[-_ ]?check", re.IGNORECASE)
_CURL = re.compile(r"(?:^|[\s;&|(`])curl\s")
_CURL_FAIL = re.compile(r"\s(?:--fail(?:-with-body)?|-[a-zA-Z]*f[a-zA-Z]*)(?=\s|$)")
_HEALTH_PATH = re.compile(r"/(?:[\w.-]*health[\w.-]*|readyz|livez|ready|ping|status)(?![\w-])", re.IGNORECASE)
_CANARY_STATUS = re.compile(r"\bkubectl\s[^;&|]*\brollout\s+status\b[^;&|]*canary", re.IGNORECASE)
_HELM_TEST = re.compile(r"(?:^|[\s;&|(`])helm\s+test\b")
_TEARDOWN = re.compile(r"(?:^|[\s;&|(`])(?:(?:kubectl|oc)\s[^;&|]*\bdelete\b|helm\s+(?:uninstall|delete)\b)")


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


def _permissions(value: Any, line: int | None) -> dict[str, Any] | None:
    """A `permissions:` setting as the scopes it grants write to (`*` for write-all); None when unset."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"write": ["*"] if value.strip() == "write-all" else [], "line": line}
    if isinstance(value, dict):
        return {"write": sorted(str(k) for k, v in value.items() if v == "write"), "line": line}
    return {"write": [], "line": line}


def _job_permissions(raw: Mapping[Any, Any], workflow: dict[str, Any] | None) -> dict[str, Any]:
    """The token permissions a GitHub job runs with: its own, else the workflow's, else the repository default."""
    own = _permissions(raw.get("permissions"), _line(raw, "permissions"))
    if own is not None:
        return {"source": "job", **own}
    if workflow is not None:
        return {"source": "workflow", **workflow}
    return {"source": "default", "write": None, "line": None}


def _texts_with_lines(value: Any, line: int | None) -> Iterator[tuple[str, int | None]]:
    """Every physical line of every string in a YAML value, with its line in the file."""
    if isinstance(value, str):
        for offset, part in enumerate(value.split("\n")):
            yield part, line + offset if line is not None else None
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts_with_lines(item, _value_line(value, key) or line)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts_with_lines(item, _item_line(value, index) or line)


def _secrets(value: Any, line: int | None) -> list[dict[str, Any]]:
    found: dict[tuple[str, int | None], dict[str, Any]] = {}
    for text, text_line in _texts_with_lines(value, line):
        for m in _SECRET.finditer(text):
            name = m.group(1) or m.group(2)
            found.setdefault((name, text_line), {"name": name, "line": text_line})
    return list(found.values())


def _job_secrets(raw: Mapping[Any, Any], workflow: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`${{ secrets.NAME }}` references a GitHub job can read: its own and the workflow `env:`'s (`*` for `secrets: inherit`)."""
    own = _secrets(raw, getattr(raw, "line", None))
    if raw.get("secrets") == "inherit":
        own.append({"name": "*", "line": _value_line(raw, "secrets")})
    return sorted([*workflow, *own], key=lambda s: (s["line"] or 0, s["name"]))


def _references(base: re.Pattern[str], names: Iterable[str]) -> re.Pattern[str]:
    """`base`, or a use of one of the variables `names` (`$NAME`, `${NAME}`, `${{ env.NAME }}`)."""
    alternatives = "|".join(sorted(map(re.escape, names)))
    if not alternatives:
        return base
    return re.compile(rf"(?:{base.pattern})|(?:\$\{{?|\benv\.)(?:{alternatives})\b")


def _carrying(base: re.Pattern[str], assignments: list[tuple[str, str]]) -> re.Pattern[str]:
    """`base` extended with every variable whose value uses it, directly or through other variables."""
    names: set[str] = set()
    while True:
        pattern = _references(base, names)
        new = {name for name, value in assignments if name not in names and pattern.search(value)}
        if not new:
            return pattern
        names |= new


def _assignments(document: dict[str, Any], job_id: str, text: _JobText) -> list[tuple[str, str]]:
    """Variables a job sees: `env:`/`variables:` of the pipeline and the job, and `NAME=value` in its commands."""
    pairs = [
        (v["name"], v["value"])
        for v in document["variables"]
        if isinstance(v["value"], str) and (v["scope"] == "workflow" or v["job"] == job_id)
    ]
    for command in text.commands:
        pairs += [(m.group(1), m.group(2)) for m in _ASSIGNMENT.finditer(command.text)]
    return pairs


def _runs_code(step: Mapping[str, Any]) -> bool:
    uses = step.get("uses") or ""
    return isinstance(step.get("run"), str) or uses.startswith("./") or bool(_BUILD_ACTION.search(uses.split("@")[0]))


def _checkouts(job: dict[str, Any], text: _JobText, untrusted: re.Pattern[str]) -> list[dict[str, Any]]:
    """`actions/checkout` steps, and `git`/`gh pr checkout` commands of pull-request code, with what runs after them."""
    steps = job["steps"]

    def later_steps(index: int) -> int | None:
        return next((s["line"] for s in steps[index + 1 :] if _runs_code(s)), None)

    found: list[dict[str, Any]] = []
    for index, step in enumerate(steps):
        uses = step.get("uses") or ""
        if not _CHECKOUT_ACTION.match(uses):
            continue
        inputs = {i.key: i.text for i in text.inputs if i.step == index}
        ref, repository = inputs.get("ref"), inputs.get("repository")
        found.append(
            {
                "kind": "action",
                "ref": ref,
                "repository": repository,
                "untrusted": any(v is not None and bool(untrusted.search(v)) for v in (ref, repository)),
                "line": step["line"],
                "runs_code_at": later_steps(index),
            }
        )
    for position, command in enumerate(text.commands):
        m = _GIT_CHECKOUT.search(command.text)
        if not m or not untrusted.search(command.text):
            continue
        same_step = next((c.line for c in text.commands[position + 1 :] if c.step == command.step), None)
        found.append(
            {
                "kind": "gh" if "gh" in m.group(0).split() else "git",
                "ref": command.text,
                "repository": None,
                "untrusted": True,
                "line": command.line,
                "runs_code_at": same_step or later_steps(command.step),
            }
        )
    return sorted(found, key=lambda c: c["line"] or 0)


def _builds(text: _JobText, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for command in text.commands:
        m = _BUILD_COMMAND.search(command.text)
        if m:
            tool = m.group(0).strip(" ;&|(`").split()[0].rsplit("/", 1)[-1]
            found.append({"tool": tool, "command": command.text, "line": command.line})
    for step in steps:
        uses = step.get("uses") or ""
        if _BUILD_ACTION.search(uses.split("@")[0]):
            found.append({"tool": uses.split("@")[0], "command": uses, "line": step["line"]})
    return sorted(found, key=lambda b: b["line"] or 0)


def _smoke_tests(job: dict[str, Any], text: _JobText) -> list[dict[str, Any]]:
    found = []
    if _SMOKE_NAME.search(job["id"]) or _SMOKE_NAME.search(job["name"]):
        found.append({"kind": "job-name", "command": job["name"], "line": job["line"]})
    for step in job["steps"]:  # GitLab steps are named after their section and never match
        if _SMOKE_NAME.search(step["name"]):
            found.append({"kind": "step-name", "command": step["name"], "line": step["line"]})
    for command in text.commands:
        kind = _smoke_kind(command.text)
        if kind:
            found.append({"kind": kind, "command": command.text, "line": command.line})
    return found


def _smoke_kind(command: str) -> str | None:
    if _CURL.search(command) and _CURL_FAIL.search(command) and _HEALTH_PATH.search(command):
        return "health-check"
    if _CANARY_STATUS.search(command):
        return "canary-rollout"
    if _HELM_TEST.search(command):
        return "helm-test"
    if _SMOKE_NAME.search(command):
        return "command"
    return None


def _stamps(text: _JobText, commit: re.Pattern[str]) -> list[dict[str, Any]]:
    found = []
    for command in text.commands:
        if _BUILD_COMMAND.search(command.text):
            continue  # tagging the image being built says nothing about what is deployed
        kind = None
        if "kubernetes.io/change-cause" in command.text:
            kind = "change-cause"
        elif re.search(r"\bkubectl\s[^;&|]*--record\b", command.text):
            kind = "record"
        elif _STAMP_TOOL.search(command.text) and commit.search(command.text):
            kind = "commit"
        if kind:
            found.append({"kind": kind, "command": command.text, "line": command.line})
    for item in text.inputs:
        action = item.uses.split("@")[0]
        if _STAMP_ACTION.search(action) and not _BUILD_ACTION.search(action) and commit.search(item.text):
            found.append({"kind": "action-input", "command": f"{action} {item.key}", "line": item.line})
    return sorted(found, key=lambda s: s["line"] or 0)


def _teardown(job: dict[str, Any], text: _JobText) -> bool:
    """A GitHub job that only removes what was deployed (GitLab says so with `environment: action: stop`)."""
    return (
        not any(c["verb"] in MUTATING_VERBS for c in job["deploy_commands"])
        and not any(_DEPLOY_ACTION.search(a["uses"]) for a in job["actions_used"])
        and any(_TEARDOWN.search(c.text) for c in text.commands)
    )


def _order(document: dict[str, Any], texts: Mapping[str, _JobText]) -> None:
    """Set each job's `after`: the jobs that finish before it starts (needs, and GitLab's earlier stages)."""
    jobs = {j["id"]: j for j in document["jobs"]}
    done: dict[str, set[str]] = {}

    def before(job_id: str, visiting: frozenset[str]) -> set[str]:
        if job_id in done:
            return done[job_id]
        job = jobs[job_id]
        result: set[str] = set()
        direct = list(job["needs"])
        index = job["stage_index"]
        if document["system"] == "gitlab" and not texts[job_id].needs_given and index is not None:
            direct = [o["id"] for o in jobs.values() if o["stage_index"] is not None and o["stage_index"] < index]
        for other in direct:
            if other in jobs and other not in visiting:
                result |= {other} | before(other, visiting | {job_id})
        done[job_id] = result
        return result

    order = list(jobs)
    for job_id, job in jobs.items():
        found = before(job_id, frozenset())
        job["after"] = [o for o in order if o in found and o != job_id]


# --- the environment of a deploy job that declares none ---

# Environment → patterns, each matched case-insensitively on whole words (environment_pattern).
# rollguard.yaml `pipelines.environments` replaces entries by name and adds new ones after these.
DEFAULT_ENVIRONMENT_PATTERNS: Mapping[str, tuple[str, ...]] = {
    "prod": ("prod", "production", "prd"),
    "staging": ("staging", "stage", "stg"),
    "dev": ("dev", "development"),
}
_Patterns = tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
_KUBE_TOOL = re.compile(r"(?:^|[\s;&|(/`])(kubectl|helm|oc)(?=\s)")
_VARIABLE = re.compile(r"\$\{\{\s*env\.([A-Za-z_]\w*)\s*\}\}|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
# helm flags that take the next word as their value, so it is not mistaken for the release name.
_HELM_VALUE_FLAGS = frozenset(
    [
        "-n",
        "--namespace",
        "-f",
        "--values",
        "--set",
        "--set-string",
        "--set-file",
        "--set-json",
        "--set-literal",
        "--version",
        "--timeout",
        "--kube-context",
        "--kubeconfig",
        "--repo",
        "--description",
        "--post-renderer",
        "--post-renderer-args",
        "--username",
        "--password",
        "--ca-file",
        "--cert-file",
        "--key-file",
        "--history-max",
        "-o",
        "--output",
        "--registry-config",
        "--repository-config",
        "--repository-cache",
        "--kube-apiserver",
        "--kube-token",
        "--kube-as-user",
        "--kube-as-group",
        "--burst-limit",
        "--qps",
    ]
)


def environment_pattern(text: str) -> re.Pattern[str]:
    """A configured pattern as it is matched: case-insensitive, on whole words, so `prod` is not in `product-api`.

    Raises re.error for a pattern that is not a valid regular expression.
    """
    return re.compile(rf"(?<![a-z0-9])(?:{text})(?![a-z0-9])", re.IGNORECASE)


def _table_key(overrides: Mapping[str, Sequence[str]] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The default table with `overrides` applied, in a hashable form."""
    table = {name: tuple(patterns) for name, patterns in DEFAULT_ENVIRONMENT_PATTERNS.items()}
    for name, patterns in (overrides or {}).items():
        table[str(name)] = tuple(str(p) for p in patterns)
    return tuple(table.items())


@lru_cache(maxsize=8)
def environment_patterns(table: tuple[tuple[str, tuple[str, ...]], ...]) -> _Patterns:
    """The compiled patterns of an environment table (one compile per table and process)."""
    return tuple((name, tuple(environment_pattern(p) for p in patterns)) for name, patterns in table)


@dataclass(frozen=True)
class _Clue:
    """One thing about a job that may name its environment: where it was read, the text, the line."""

    source: str
    value: str
    line: int | None


def _flag(tokens: list[str], names: tuple[str, ...]) -> str | None:
    """The value of the first of the flags `names` in `tokens` (`--flag value`, `--flag=value`, `-nvalue`)."""
    for index, token in enumerate(tokens):
        for name in names:
            if token == name and index + 1 < len(tokens):
                return tokens[index + 1]
            if token.startswith(name + "="):
                return token[len(name) + 1 :]
            if len(name) == 2 and token.startswith(name) and len(token) > 2 and not token.startswith("--"):
                return token[2:]
    return None


def _helm_release(tokens: list[str]) -> str | None:
    """The release of `helm upgrade|install [flags] RELEASE CHART`: its first word that is not a flag or a flag's value."""
    if not tokens or tokens[0] not in ("upgrade", "install"):
        return None
    skip = False
    for token in tokens[1:]:
        if skip:
            skip = False
        elif token.startswith("-"):
            skip = "=" not in token and token in _HELM_VALUE_FLAGS
        else:
            return token
    return None


def _kube_clues(text: _JobText) -> Iterator[_Clue]:
    """Namespaces, contexts and helm releases named by the job's kubectl, helm and oc commands."""
    for command in text.commands:
        for m in _KUBE_TOOL.finditer(command.text):
            tool = m.group(1)
            rest = command.text[m.end() :]
            end = _SEGMENT_END.search(rest)
            tokens = [t.strip("'\"") for t in (rest[: end.start()] if end else rest).split()]
            namespace = _flag(tokens, ("-n", "--namespace"))
            if namespace:
                yield _Clue(f"{tool} --namespace", namespace, command.line)
            flag = "--kube-context" if tool == "helm" else "--context"
            context = _flag(tokens, (flag,))
            if context:
                yield _Clue(f"{tool} {flag}", context, command.line)
            if tokens[:2] == ["config", "use-context"] and len(tokens) > 2:
                yield _Clue(f"{tool} config use-context", tokens[2], command.line)
            release = _helm_release(tokens) if tool == "helm" else None
            if release:
                yield _Clue("helm release", release, command.line)


def _environment_clues(job: dict[str, Any], text: _JobText) -> list[list[_Clue]]:
    """What may name a deploy job's environment, strongest first: one list per kind of clue."""
    names = [job["name"], *([job["id"]] if job["id"] != job["name"] else [])]
    kube = list(_kube_clues(text))
    inputs = [i for i in text.inputs if i.key in ("namespace", "context")]
    deploy_inputs = [i for i in text.inputs if _DEPLOY_ACTION.search(i.uses.split("@")[0])]
    return [
        [_Clue("job name", name, job["line"]) for name in names],
        [_Clue("GitLab stage", job["stage"], job["line"])] if job["stage"] else [],
        [c for c in kube if c.source.endswith("--namespace")]
        + [_Clue(f"{i.uses.split('@')[0]} input namespace", i.text, i.line) for i in inputs if i.key == "namespace"],
        [c for c in kube if "context" in c.source]
        + [_Clue(f"{i.uses.split('@')[0]} input context", i.text, i.line) for i in inputs if i.key == "context"],
        [c for c in kube if c.source == "helm release"],
        [
            _Clue(f"{c['tool']} command", c["command"], c["line"])
            for c in job["deploy_commands"]
            if c["verb"] in MUTATING_VERBS
        ]
        + [_Clue(f"{i.uses.split('@')[0]} input {i.key}", i.text, i.line) for i in deploy_inputs],
    ]


def _expand(value: str, variables: Mapping[str, str]) -> str:
    """`$NAME`, `${NAME}` and `${{ env.NAME }}` replaced by the variable's value when the pipeline sets it."""

    def value_of(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return variables.get(name, m.group(0))

    return _VARIABLE.sub(value_of, value)


def _only_rolls_back(job: dict[str, Any]) -> bool:
    """A recovery job (`kubectl rollout undo`, `helm rollback`, ...): the way back from a release, not a release."""
    verbs = {c["verb"] for c in job["deploy_commands"] if c["verb"] in MUTATING_VERBS}
    return verbs == {"rollout-undo"} and not any(_DEPLOY_ACTION.search(a["uses"]) for a in job["actions_used"])


def _inferred_environment(
    job: dict[str, Any], text: _JobText, assignments: list[tuple[str, str]], patterns: _Patterns
) -> dict[str, Any] | None:
    """The environment of a deploy job without `environment:`, from the first kind of clue that names one.

    Within a kind, environments are tried in table order (prod first), so a job that touches prod
    and staging is judged as a prod deploy.
    """
    if not job["deploys"] or job["environment"] is not None or _only_rolls_back(job):
        return None
    variables = {name: value.strip().strip("'\"") for name, value in assignments}
    for clues in _environment_clues(job, text):
        expanded = [(clue, _expand(clue.value, variables)) for clue in clues]
        for name, regexes in patterns:
            for clue, value in expanded:
                if any(r.search(value) for r in regexes):
                    return {"name": name, "inferred_from": clue.source, "value": value, "line": clue.line}
    return None


def _derive(document: dict[str, Any], texts: Mapping[str, _JobText], patterns: _Patterns) -> None:
    """Fill in the derived facts of every job once the whole pipeline is read."""
    for job in document["jobs"]:
        text = texts[job["id"]]
        assignments = _assignments(document, job["id"], text)
        job["inferred_environment"] = _inferred_environment(job, text, assignments, patterns)
        job["builds_images"] = _builds(text, job["steps"])
        job["smoke_tests"] = _smoke_tests(job, text)
        job["stamps"] = _stamps(text, _carrying(_COMMIT, assignments))
        if document["system"] == "github":
            job["checkouts"] = _checkouts(job, text, _carrying(_UNTRUSTED, assignments))
            job["teardown"] = _teardown(job, text)
    _order(document, texts)
