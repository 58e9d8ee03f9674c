"""CI pipeline definitions (GitHub Actions, GitLab CI): one `PipelineDefinition` document per file (docs/pipelines.md).

`reading` reads the YAML with lines, `github` and `gitlab` build the `document`, and `facts` and
`environments` derive what the release policies read once the whole pipeline is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rollguard.inputs.pipeline.document import (
    API_VERSION,
    KIND,
    MUTATING_VERBS,
    deploy_commands,
    logical_lines,
    parse_image,
)
from rollguard.inputs.pipeline.environments import (
    DEFAULT_ENVIRONMENT_PATTERNS,
    _table_key,
    environment_pattern,
    environment_patterns,
)
from rollguard.inputs.pipeline.github import _github
from rollguard.inputs.pipeline.gitlab import _GITLAB_GLOBALS, _gitlab
from rollguard.inputs.pipeline.reading import _parse, _Unusable
from rollguard.inputs.sniff import is_pipeline_name, might_be_pipeline
from rollguard.model import Artifact, InputProblem, Resource

__all__ = [
    "API_VERSION",
    "DEFAULT_ENVIRONMENT_PATTERNS",
    "KIND",
    "MUTATING_VERBS",
    "deploy_commands",
    "environment_pattern",
    "environment_patterns",
    "is_pipeline",
    "load_text",
    "logical_lines",
    "parse_image",
    "system_of",
]


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
    if not might_be_pipeline(name, text):
        return False  # cheap: most manifests have none of the keys a pipeline has
    named = is_pipeline_name(name)
    try:
        doc = _parse(text)
    except _Unusable:
        return named
    return system_of(doc) is not None or is_pipeline_name(name)


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
        if is_pipeline_name(name):
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
