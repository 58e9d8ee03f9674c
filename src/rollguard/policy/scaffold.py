"""`rollguard policy new`: a new policy in the pack's layout, whose tests pass as written."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rollguard.errors import ConfigError
from rollguard.kube.kinds import KINDS
from rollguard.model import ARTIFACT_KINDS

_PART = re.compile(r"^[a-z][a-z0-9_]*$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_LIBRARY_PACKAGE = re.compile(r"^package\s+rollguard\.lib\.", re.MULTILINE)

# Names the generated modules already use: a policy named like one would not compile.
_RESERVED = frozenset(
    {
        *("as", "contains", "data", "default", "else", "every", "false", "if", "import", "in", "input"),
        *("not", "null", "package", "some", "true", "with"),
        *("testing", "default_parameters", "labelled", "named", "set"),
    }
)

# The kinds a new policy of each domain judges unless --kind says otherwise.
_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
DOMAIN_KINDS: dict[str, tuple[str, ...]] = {
    "k8s": _WORKLOADS,
    "changeset": _WORKLOADS,
    "governance": ("ChangeRequest",),
    "image": ("ImageScan",),
    "migration": ("MigrationFile",),
    "observability": ("PrometheusRule",),
    "pipeline": ("PipelineDefinition",),
    "terraform": ("TerraformPlan",),
}
# The fixture files of the domains whose fixtures are not Kubernetes YAML (docs/authoring.md).
_FIXTURE_FORMS = {
    "governance": "a folder with a rollguard.yaml and an `expect` file",
    "image": "a Trivy JSON report (.json)",
    "migration": "a .sql file",
    "pipeline": "a CI pipeline (.yml)",
    "terraform": "a `terraform show -json` plan (.json)",
}

# The example check: every judged object carries the labels in `labels` (review kinds), or no
# artifact's file name holds a word of `forbidden_words` (other artifacts). Small on purpose.
LABEL = "app.kubernetes.io/part-of"
WORD = "draft"

# The pack's baseline change (fixtures/k8s/readiness_probe/allowed_deployment.yaml): a
# Deployment that passes every policy, with the Service, PDB and NetworkPolicies it needs, so a
# fixture built on it is reported by the new policy alone.
_BASELINE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
  labels: {app.kubernetes.io/name: checkout}
spec:
  replicas: 3
  revisionHistoryLimit: 5
  progressDeadlineSeconds: 600
  minReadySeconds: 10
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels: {app.kubernetes.io/name: checkout}
  template:
    metadata:
      labels: {app.kubernetes.io/name: checkout, app.kubernetes.io/version: "2.4.1"}
    spec:
      terminationGracePeriodSeconds: 45
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: DoNotSchedule
          labelSelector:
            matchLabels: {app.kubernetes.io/name: checkout}
      containers:
        - name: checkout
          image: registry.example.com/shop/checkout:2.4.1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /ready, port: http}
            periodSeconds: 5
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            initialDelaySeconds: 20
            periodSeconds: 10
          lifecycle:
            preStop:
              exec: {command: [sleep, "10"]}
          resources:
            requests: {cpu: 250m, memory: 256Mi}
            limits: {memory: 256Mi}
          securityContext:
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata: {name: checkout, namespace: shop}
spec:
  selector: {app.kubernetes.io/name: checkout}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: checkout, namespace: shop}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app.kubernetes.io/name: checkout}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: checkout, namespace: shop}
spec:
  podSelector:
    matchLabels: {app.kubernetes.io/name: checkout}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {app.kubernetes.io/name: frontend}
      ports: [{port: 8080}]
"""


@dataclass(frozen=True)
class NewPolicy:
    """What to scaffold: the policy id's parts and the kinds it judges."""

    domain: str
    name: str
    kinds: tuple[str, ...]

    @property
    def id(self) -> str:
        """`<domain>.<name>`, METADATA `custom.id`."""
        return f"{self.domain}.{self.name}"

    @property
    def package(self) -> str:
        """`rollguard.<domain>.<name>`, the Rego package the directory mirrors."""
        return f"rollguard.{self.id}"

    @property
    def on_objects(self) -> bool:
        """True for Kubernetes kinds (`input.review`), False for rollguard's artifacts (`input.artifact`)."""
        return not set(self.kinds) & ARTIFACT_KINDS


@dataclass(frozen=True)
class Scaffold:
    """The files of a new policy by path, and what is left for its author to do."""

    policy: NewPolicy
    files: Mapping[Path, str]
    next_steps: tuple[str, ...]

    def existing(self) -> list[Path]:
        """The files that are there already."""
        return [p for p in self.files if p.exists()]

    def write(self, *, force: bool = False) -> list[Path]:
        """Write every file; ConfigError naming them when one exists and `force` is off."""
        taken = self.existing()
        if taken and not force:
            raise ConfigError(
                f"policy {self.policy.id}: {', '.join(p.as_posix() for p in taken)} already "
                f"{'exists' if len(taken) == 1 else 'exist'}; pass --force to overwrite"
            )
        try:
            for path, text in self.files.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"write policy: {exc.strerror or exc}", file=str(exc.filename or path)) from exc
        return list(self.files)


def new_policy(policy_id: str, *, kinds: Sequence[str] = ()) -> NewPolicy:
    """`policy_id` (`<domain>.<name>`) and the kinds to judge, checked; ConfigError says what to fix."""
    domain, dot, name = policy_id.partition(".")
    if not dot or not _PART.match(domain) or not _PART.match(name):
        raise ConfigError(
            f"policy id {policy_id!r} must be <domain>.<name> in snake_case (lower-case letters, digits "
            "and _, starting with a letter), e.g. k8s.owner_label"
        )
    if name in _RESERVED:
        raise ConfigError(f"policy name {name!r} is a Rego keyword or a name the generated tests use; choose another")
    for kind in kinds:
        if not _KIND.match(kind):
            raise ConfigError(f"--kind {kind!r} is not a kind name (e.g. Deployment, MigrationFile)")
    if not kinds and domain not in DOMAIN_KINDS:
        known = ", ".join(sorted(DOMAIN_KINDS))
        raise ConfigError(f"domain {domain!r} is none of rollguard's ({known}); name the kinds it judges with --kind")
    chosen = tuple(dict.fromkeys(kinds)) or DOMAIN_KINDS[domain]
    artifacts = sorted(set(chosen) & ARTIFACT_KINDS)
    if artifacts and len(artifacts) != len(chosen):
        raise ConfigError(
            f"--kind mixes Kubernetes kinds with {', '.join(artifacts)}, which policies see as input.artifact, "
            "not input.review; scaffold one policy for each"
        )
    return NewPolicy(domain, name, chosen)


def holds_libraries(policy_dir: Path) -> bool:
    """Whether `policy_dir` holds rollguard's libraries itself (the pack, or a copy of it)."""
    if not policy_dir.is_dir():
        return False
    return any(
        _LIBRARY_PACKAGE.search(p.read_text(encoding="utf-8", errors="replace")) for p in policy_dir.rglob("*.rego")
    )


def scaffold(policy: NewPolicy, *, policy_dir: Path, fixtures: Path | None = None) -> Scaffold:
    """The module, its tests and (for Kubernetes kinds) two fixtures of `policy`.

    Files go where the pack keeps them: `<policy_dir>/rollguard/<domain>/<name>/` and
    `<fixtures>/<domain>/<name>/` (by default `fixtures/` beside `policy_dir`).
    """
    folder = policy_dir / "rollguard" / policy.domain / policy.name
    fixture_dir = (fixtures if fixtures is not None else policy_dir.parent / "fixtures") / policy.domain / policy.name
    files: dict[Path, str] = {}
    if policy.on_objects:
        files[folder / f"{policy.name}.rego"] = _object_policy(policy)
        files[folder / f"{policy.name}_test.rego"] = _object_tests(policy)
        allowed, disallowed = _fixtures(policy)
        files[fixture_dir / "allowed_labelled.yaml"] = allowed
        files[fixture_dir / "disallowed_missing_label.yaml"] = disallowed
    else:
        files[folder / f"{policy.name}.rego"] = _artifact_policy(policy)
        files[folder / f"{policy.name}_test.rego"] = _artifact_tests(policy)
    option = "--policies" if holds_libraries(policy_dir) else "--policy"
    steps = [
        f"run its tests: rollguard policy test {option} {policy_dir.as_posix()} --run {policy.package}_test.",
        "replace the example check, its METADATA and its tests with the policy's own (docs/authoring.md)",
    ]
    if not policy.on_objects:
        form = _FIXTURE_FORMS.get(policy.domain, "an input of the kind it judges")
        steps.append(
            f"add {fixture_dir.as_posix()}/allowed_<case> and disallowed_<case>, each {form}: "
            "one input the policy passes, one it reports"
        )
    return Scaffold(policy, files, tuple(steps))


def _metadata(policy: NewPolicy, *, description: str, remediation: str, parameters: Mapping[str, Any]) -> str:
    """The `# METADATA` block: every field the pack requires, with the example check's values."""
    words = policy.name.replace("_", " ")
    prop, schema = next(iter(parameters.items()))
    lines = [
        "METADATA",
        f"title: {words[0].upper()}{words[1:]}",
        "# Say what goes wrong in a rollout without this rule, what it leaves alone and why, and",
        '# end with the reason for its severity ("Medium: ..."): the pack requires that reason.',
        "description: >-",
        *_wrap(description, "  "),
        "scope: package",
        "custom:",
        f"  id: {policy.id}",
        "  severity: medium",
        "  # The compliance controls a finding is evidence for; change management fits most rollout rules.",
        '  controls: ["SOC2:CC8.1"]',
        "  remediation: >-",
        *_wrap(remediation, "    "),
        f"  applies_to: [{', '.join(policy.kinds)}]",
        "  parameters:",
        "    type: object",
        "    additionalProperties: false",
        "    properties:",
        f"      {prop}:",
        "        type: array",
        "        items: {type: string}",
        f"        default: {json.dumps(schema['default'])}",
        "        description: >-",
        *_wrap(str(schema["description"]), "          "),
    ]
    return "".join(f"# {line}\n" for line in lines)


def _wrap(text: str, indent: str, width: int = 76) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(indent + word)
    return lines


def _object_policy(policy: NewPolicy) -> str:
    metadata = _metadata(
        policy,
        description=(
            "As scaffolded, an example check: every object it judges carries each label in `labels`, "
            "so the team that owns a workload can be found when its rollout goes wrong. Medium: a "
            "missing label slows the response to a failed rollout but does not break one."
        ),
        remediation="Add the label {{ label }} to the object's metadata.labels.",
        parameters={
            "labels": {"default": [LABEL], "description": "Labels every judged object must carry."},
        },
    )
    example = (
        "#   example_allowed: |\n"
        "#     metadata:\n"
        "#       labels:\n"
        f"#         {LABEL}: shop\n"
        "#   example_disallowed: |\n"
        "#     metadata:\n"
        "#       labels: {}\n"
    )
    return f"""{metadata}{example}package {policy.package}

import data.rollguard.lib.k8s

# The example check: replace it (and `labels` in METADATA) with the policy's own. Build the
# finding's `details` from facts, with `path` at the field it is about, and never repeat the
# id, severity or fix from METADATA here.
violation contains {{"msg": msg, "details": d}} if {{
\tsome label in required_labels
\tnot has_label(label)
\td := {{"label": label, "path": "metadata.labels"}}
\tmsg := sprintf("%s has no label %q", [k8s.display, label])
}}

# Labels to require; a malformed parameter falls back to the default.
required_labels := [label | some label in input.parameters.labels; is_string(label)] if {{
\tis_array(input.parameters.labels)
}} else := [{json.dumps(LABEL)}]

has_label(label) if is_string(k8s.obj.metadata.labels[label])
"""


def _object_tests(policy: NewPolicy) -> str:
    kind = policy.kinds[0]
    api = KINDS[kind].api_version if kind in KINDS else "example.com/v1"
    namespaced = KINDS[kind].namespaced if kind in KINDS else True
    meta = (
        '{"name": "web", "namespace": "shop", "labels": labels}' if namespaced else '{"name": "web", "labels": labels}'
    )
    shown = f"{kind} shop/web" if namespaced else f"{kind} default/web"
    imports = sorted(["data.rollguard.lib.testing", f"data.{policy.package}"])
    return f"""package {policy.package}_test

import {imports[0]}
import {imports[1]}

default_parameters := {{"labels": [{json.dumps(LABEL)}]}}

labelled(labels) := {{
\t"apiVersion": {json.dumps(api)},
\t"kind": {json.dumps(kind)},
\t"metadata": {meta},
}}

test_object_with_the_label_passes if {{
\tv := {policy.name}.violation with input as testing.review(labelled({{{json.dumps(LABEL)}: "shop"}}), default_parameters)
\tv == set()
}}

test_object_without_the_label_is_reported if {{
\tv := {policy.name}.violation with input as testing.review(labelled({{}}), default_parameters)
\tv == {{{{
\t\t"msg": `{shown} has no label "{LABEL}"`,
\t\t"details": {{"label": {json.dumps(LABEL)}, "path": "metadata.labels"}},
\t}}}}
}}
"""


def _artifact_policy(policy: NewPolicy) -> str:
    metadata = _metadata(
        policy,
        description=(
            f"As scaffolded, an example check: no {' or '.join(policy.kinds)} file name holds a word of "
            "`forbidden_words`, so a draft never ships by accident. Medium: a draft may be harmless, "
            "but nobody meant to deploy it."
        ),
        remediation="Finish {{ file }} and rename it without {{ word }}, or leave it out of the change.",
        parameters={
            "forbidden_words": {
                "default": [WORD],
                "description": "Words (lower case) that no file name of the change may hold.",
            },
        },
    )
    return f"""{metadata}package {policy.package}

# The example check: replace it (and `forbidden_words` in METADATA) with the policy's own.
# Build the finding's `details` from facts, and never repeat the id, severity or fix from
# METADATA here.
violation contains {{"msg": msg, "details": d}} if {{
\tis_string(input.artifact.file)
\tsome word in forbidden_words
\tcontains(lower(input.artifact.file), word)
\td := {{"file": input.artifact.file, "word": word}}
\tmsg := sprintf("%s %s has %q in its file name", [input.artifact.kind, input.artifact.file, word])
}}

# Words to refuse; a malformed parameter falls back to the default.
forbidden_words := [word | some word in input.parameters.forbidden_words; is_string(word)] if {{
\tis_array(input.parameters.forbidden_words)
}} else := [{json.dumps(WORD)}]
"""


def _artifact_tests(policy: NewPolicy) -> str:
    kind = policy.kinds[0]
    return f"""package {policy.package}_test

import data.{policy.package}

default_parameters := {{"forbidden_words": [{json.dumps(WORD)}]}}

named(file) := {{"artifact": {{"kind": {json.dumps(kind)}, "file": file}}, "parameters": default_parameters}}

test_file_without_the_word_passes if {{
\tv := {policy.name}.violation with input as named("release/V2__add_orders.sql")
\tv == set()
}}

test_file_with_the_word_is_reported if {{
\tv := {policy.name}.violation with input as named("release/V3__Draft_index.sql")
\tv == {{{{
\t\t"msg": `{kind} release/V3__Draft_index.sql has "{WORD}" in its file name`,
\t\t"details": {{"file": "release/V3__Draft_index.sql", "word": {json.dumps(WORD)}}},
\t}}}}
}}
"""


def _fixtures(policy: NewPolicy) -> tuple[str, str]:
    """(allowed, disallowed) YAML: the pack's baseline with and without the label on the judged
    objects, or one object of the first kind when the policy does not judge Deployments."""
    if "Deployment" in policy.kinds:
        documents = list(yaml.safe_load_all(_BASELINE))
        about, note = "The pack's baseline change", ""
    else:
        kind = policy.kinds[0]
        api = KINDS[kind].api_version if kind in KINDS else "example.com/v1"
        metadata: dict[str, Any] = {"name": "web"}
        if kind not in KINDS or KINDS[kind].namespaced:
            metadata["namespace"] = "shop"
        documents = [{"apiVersion": api, "kind": kind, "metadata": metadata}]
        about = f"A {kind}"
        note = "# Every policy judges every fixture of the pack: make this one pass the others too.\n"
    judged = [d for d in documents if d["kind"] in policy.kinds]
    for d in judged:
        d["metadata"].setdefault("labels", {})[LABEL] = "shop"
    allowed = _dump(documents, f"# {about}, labelled {LABEL}: nothing to report.\n{note}")
    for d in judged:
        del d["metadata"]["labels"][LABEL]
    disallowed = _dump(documents, f"# {about} without the label {LABEL}: {policy.id} reports it.\n{note}")
    return allowed, disallowed


def _dump(documents: list[dict[str, Any]], header: str) -> str:
    return header + "---\n".join(yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in documents)
