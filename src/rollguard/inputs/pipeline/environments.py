"""The environment of a deploy job that declares none: inferred from its name, stage, namespace, release, ..."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rollguard.inputs.pipeline.document import _DEPLOY_ACTION, _SEGMENT_END, MUTATING_VERBS, _JobText

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
