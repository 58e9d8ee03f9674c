"""Facts for the release policies, derived once a pipeline is read: builds, checkouts, secrets, stamps, order."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rollguard.inputs.pipeline.document import _DEPLOY_ACTION, MUTATING_VERBS, _JobText
from rollguard.inputs.pipeline.environments import _inferred_environment, _Patterns
from rollguard.inputs.pipeline.reading import _item_line, _line, _value_line

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
