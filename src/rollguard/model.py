"""Value types shared by every layer: artifacts, change sets, findings and decisions."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EXIT_PASS = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_ERROR = 3


class Severity(enum.IntEnum):
    """Finding severity, ordered so that comparisons read naturally."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse `high`, `HIGH`, ... into a Severity; raise ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of {names})") from None

    @property
    def label(self) -> str:
        """Lower-case name as written in METADATA and config."""
        return self.name.lower()


Enforcement = Literal["deny", "warn", "dryrun"]
ENFORCEMENTS: tuple[Enforcement, ...] = ("deny", "warn", "dryrun")


@dataclass(frozen=True)
class Resource:
    """Identity of the thing a finding is about."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def display(self) -> str:
        """`Kind namespace/name` (or `Kind name` for cluster-scoped objects)."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def to_json(self) -> dict[str, Any]:
        """The `resource` object of the JSON output."""
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace, "name": self.name}


# Document kinds of the artifacts that are not Kubernetes objects. Policies for these kinds see
# `input.artifact`; policies for any other kind see Gatekeeper's `input.review`.
# `ChangeRequest` is the change as a whole (with --env), built by the gate for governance policies.
# The others are the `document_kinds` of the input kinds (rollguard.inputs.kinds), which sit above this
# module and so cannot be read here: tests/inputs/test_kinds.py keeps the two equal.
ARTIFACT_KINDS: frozenset[str] = frozenset(
    {"MigrationFile", "ImageScan", "PipelineDefinition", "TerraformPlan", "ChangeRequest"}
)


@dataclass(frozen=True)
class SourceSpan:
    """Where a document's text is, so a finding can name the line of the field it is about.

    `text` is the whole file (shared by its documents), `start:end` the document's span in it,
    `first_line` the 1-based file line of `text[start]`, and `prefix` the path inside that
    document to the object (an item of a `kind: List`).
    """

    text: str
    start: int
    end: int
    first_line: int
    prefix: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class Artifact:
    """One input document (a Kubernetes object today) with where it came from."""

    kind: str  # artifact kind: "k8s"
    document: Mapping[str, Any]
    file: str
    line: int
    resource: Resource
    source: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Release:
    """The Kubernetes objects of one release (`releases.group_releases`), and what grouped them:
    `label part-of=shop`, `directory k8s/shop`."""

    name: str
    artifacts: tuple[Artifact, ...]

    def to_json(self) -> dict[str, Any]:
        """An entry of the JSON output's `releases` list."""
        return {
            "name": self.name,
            "documents": [
                {"file": a.file, "line": a.line, "resource": a.resource.display()}
                for a in sorted(self.artifacts, key=lambda a: (a.file, a.line))
            ],
        }


@dataclass(frozen=True)
class InputProblem:
    """An input that could not be used, kept so it is reported and never silently skipped."""

    file: str
    line: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        """An entry of the JSON output's `errors` list."""
        return {"file": self.file, "line": self.line, "message": self.message}

    def display(self) -> str:
        """`file:line: message` for terminals and logs."""
        return f"{self.file}:{self.line}: {self.message}" if self.line is not None else f"{self.file}: {self.message}"


@dataclass(frozen=True)
class ChangeSet:
    """Every artifact of one change plus the problems met while reading it."""

    artifacts: tuple[Artifact, ...]
    problems: tuple[InputProblem, ...] = ()


@dataclass(frozen=True)
class AppliedWaiver:
    """A waiver that matched a finding: `applied` silences it, `expired` does not."""

    id: str
    status: Literal["applied", "expired"]
    reason: str
    owner: str
    ticket: str | None
    expires: str  # "" for an exception a policy itself grants (Conftest's `exception` rules)

    @property
    def label(self) -> str:
        """`waived by W-1 until 2027-01-31`, or without the date when the waiver does not expire."""
        return f"waived by {self.id} until {self.expires}" if self.expires else f"waived by {self.id}"

    def to_json(self) -> dict[str, Any]:
        """The `waiver` object of a finding in the JSON output."""
        return {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "owner": self.owner,
            "ticket": self.ticket,
            "expires": self.expires,
        }


@dataclass(frozen=True)
class AppliedBaseline:
    """The baseline entry that matched a finding: `baselined` accepts it, `expired` (older than
    `baseline_max_age`) does not."""

    status: Literal["baselined", "expired"]
    since: str  # ISO date the finding was first baselined
    expires: str | None = None  # ISO date the entry stops accepting it; None without a maximum age

    def to_json(self) -> dict[str, Any]:
        """The `baseline` object of a finding in the JSON output."""
        return {"status": self.status, "since": self.since, "expires": self.expires}


@dataclass(frozen=True)
class BaselineEntry:
    """A finding a baseline file accepts (docs/baseline.md): its fingerprint, what it said, and since when."""

    fingerprint: str
    policy: str
    resource: str  # `Kind namespace/name`, as reports show it
    file: str | None
    message: str
    since: str  # ISO date

    def to_json(self) -> dict[str, Any]:
        """An entry of a baseline file's `findings`, and of the JSON output's `baseline.fixed`."""
        return {
            "fingerprint": self.fingerprint,
            "policy": self.policy,
            "resource": self.resource,
            "file": self.file,
            "message": self.message,
            "since": self.since,
        }


@dataclass(frozen=True)
class Finding:
    """One policy violation (or evaluation error) about one resource."""

    policy: str
    title: str
    severity: Severity
    message: str
    resource: Resource
    file: str | None
    line: int | None
    controls: tuple[str, ...] = ()
    remediation: str = ""
    enforcement: Enforcement = "deny"
    waiver: AppliedWaiver | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    error: bool = False  # True when the policy could not be evaluated for this resource
    baseline: AppliedBaseline | None = None  # the `check --baseline` entry that matched it

    @property
    def waived(self) -> bool:
        """Whether an unexpired waiver silences this finding."""
        return self.waiver is not None and self.waiver.status == "applied"

    @property
    def baselined(self) -> bool:
        """Whether an unexpired baseline entry accepts this finding."""
        return self.baseline is not None and self.baseline.status == "baselined"

    @property
    def accepted(self) -> bool:
        """Waived or baselined: still reported, but neither counted as a finding nor blocking."""
        return self.waived or self.baselined

    def is_about(self, artifact: Artifact) -> bool:
        """Whether this finding is about `artifact`: by file and resource, since its line is the
        line of the field it names (`details.path`), not the document's."""
        return (self.file, self.resource) == (artifact.file, artifact.resource)

    def blocks(self, fail_on: Severity) -> bool:
        """Whether this finding alone makes the verdict `fail` at threshold `fail_on`."""
        return self.enforcement == "deny" and not self.accepted and (self.error or self.severity >= fail_on)

    def to_json(self) -> dict[str, Any]:
        """One entry of the JSON output's `findings` list."""
        return {
            "policy": self.policy,
            "title": self.title,
            "severity": self.severity.label,
            "message": self.message,
            "resource": self.resource.to_json(),
            "file": self.file,
            "line": self.line,
            "controls": list(self.controls),
            "remediation": self.remediation,
            "enforcement": self.enforcement,
            "waiver": self.waiver.to_json() if self.waiver else None,
            "details": dict(self.details),
            "error": self.error,
            # Only when a baseline entry matched, so findings of checks without one stay as they were.
            **({"baseline": self.baseline.to_json()} if self.baseline is not None else {}),
        }


@dataclass(frozen=True)
class Link:
    """How two artifacts of one change relate: which scan covers which image of which workload."""

    source: str  # the file of the artifact the link starts from (a scan report)
    relation: str  # e.g. `scans registry.example.com/shop/web:2.4.1`
    target: str  # the resource it reaches, with its file and line

    def to_json(self) -> dict[str, Any]:
        """An entry of the JSON output's `links` list."""
        return {"source": self.source, "relation": self.relation, "target": self.target}


@dataclass(frozen=True)
class SinceScope:
    """`check --since REF`: the files changed since `ref` were judged; the unchanged ones only gave context
    (their documents filled the inventory and the change set, and no finding names them)."""

    ref: str
    judged_files: int
    context_files: int
    context_resources: int

    def to_json(self) -> dict[str, Any]:
        """The JSON output's `summary.since`."""
        return {
            "ref": self.ref,
            "judged_files": self.judged_files,
            "context_files": self.context_files,
            "context_resources": self.context_resources,
        }


@dataclass(frozen=True)
class Decision:
    """The single result of judging a change set; computes its verdict and exit code."""

    findings: tuple[Finding, ...]
    problems: tuple[InputProblem, ...]
    fail_on: Severity
    engine: str
    resources: int
    policies: int
    environment: str | None = None
    expired_waivers: tuple[AppliedWaiver, ...] = ()
    links: tuple[Link, ...] = ()
    approval: str | None = None  # the change-approval reference (`--approval` or an annotation)
    # Inputs read but judged by no policy: none of the selected policies applies to their kind.
    unjudged: tuple[Resource, ...] = ()
    # The change as a whole (with an environment), as the governance policies judged it.
    change_request: Artifact | None = None
    releases: tuple[Release, ...] = ()  # when the run held several, each judged as its own change
    since: SinceScope | None = None  # `check --since`: only the changed files were judged
    baseline: str | None = None  # the baseline file applied (`check --baseline`)
    baseline_fixed: tuple[BaselineEntry, ...] = ()  # its entries that no finding matches any more

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that record a policy that could not be evaluated."""
        return tuple(f for f in self.findings if f.error)

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        """`pass` exactly when the exit code at the decision's own threshold is 0."""
        return "pass" if self.exit_code() == EXIT_PASS else "fail"

    def exit_code(self, fail_on: Severity | None = None) -> int:
        """0 pass, 1 blocking finding, 2 unusable input, 3 policy/engine error (highest wins)."""
        threshold = self.fail_on if fail_on is None else fail_on
        if self.errors:
            return EXIT_ERROR
        if self.problems:
            return EXIT_INPUT
        if any(f.blocks(threshold) for f in self.findings):
            return EXIT_FINDINGS
        return EXIT_PASS

    def summary(self) -> dict[str, Any]:
        """Counts used by every output format."""
        by_severity = {s.label: 0 for s in sorted(Severity, reverse=True)}
        for f in self.findings:
            if not f.accepted:
                by_severity[f.severity.label] += 1
        return {
            "resources": self.resources,
            "policies": self.policies,
            "findings": sum(1 for f in self.findings if not f.accepted),
            "blocking": sum(1 for f in self.findings if f.blocks(self.fail_on)),
            "waived": sum(1 for f in self.findings if f.waived),
            # Only with a baseline, so reports of checks without one stay as they were.
            **({"baselined": sum(1 for f in self.findings if f.baselined)} if self.baseline is not None else {}),
            "errors": len(self.errors),
            "input_errors": len(self.problems),
            "unjudged": len(self.unjudged),
            "by_severity": by_severity,
            "fail_on": self.fail_on.label,
            **({"since": self.since.to_json()} if self.since is not None else {}),
        }

    def to_json(self) -> dict[str, Any]:
        """The documented `--format json` document (docs/json-output.md)."""
        return {
            "version": 1,
            "verdict": self.verdict,
            "engine": self.engine,
            "environment": self.environment,
            "summary": self.summary(),
            "findings": [self._finding_json(f) for f in self.findings],
            "errors": [p.to_json() for p in self.problems],
            "expired_waivers": [w.to_json() for w in self.expired_waivers],
            "links": [link.to_json() for link in self.links],
            # Only when there is one, so reports of changes without governance stay as they were.
            **({"approval": self.approval} if self.approval else {}),
            **({"unjudged": [r.to_json() for r in self.unjudged]} if self.unjudged else {}),
            **({"releases": [r.to_json() for r in self.releases]} if self.releases else {}),
            **({"baseline": self._baseline_json()} if self.baseline is not None else {}),
        }

    def _finding_json(self, finding: Finding) -> dict[str, Any]:
        found = finding.to_json()
        if self.baseline is not None:
            found.setdefault("baseline", None)  # with a baseline, every finding says whether an entry matched
        return found

    def _baseline_json(self) -> dict[str, Any]:
        return {"file": self.baseline, "fixed": [e.to_json() for e in self.baseline_fixed]}
