"""GitLab CI files: local includes, `extends`, default settings, stages and jobs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from rollguard.inputs.pipeline.document import (
    _document,
    _environment,
    _finish,
    _job,
    _JobText,
    _timeout_minutes,
    _variables,
    deploy_commands,
    parse_image,
)
from rollguard.inputs.pipeline.environments import _Patterns
from rollguard.inputs.pipeline.facts import _derive
from rollguard.inputs.pipeline.reading import (
    _item_line,
    _line,
    _Map,
    _parse,
    _scalar_text,
    _strings,
    _Unusable,
    _value_line,
)
from rollguard.model import InputProblem

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
