"""Input kinds: the `InputKind` protocol and `INPUT_KINDS`, the one registry that detection, loading and the walk read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rollguard.inputs import k8s, scan
from rollguard.inputs.pending import PendingSelection
from rollguard.inputs.sniff import might_be_pipeline, might_be_plan
from rollguard.model import Artifact, InputProblem

Source = tuple[str, str]  # (display name, text)
Loaded = tuple[list[Artifact], list[InputProblem]]
FileLoader = Callable[[str, str], Loaded]  # one file's (display name, text) → its artifacts and problems


@dataclass(frozen=True)
class MigrationOptions:
    """How .sql files are read: the tool that wrote them, the SQL dialect, and which files are pending."""

    tool: str = "auto"
    dialect: str = "postgres"
    include_down: bool = False
    pending: PendingSelection | None = None  # None: no file is known to be pending (or applied)


@dataclass(frozen=True)
class PipelineOptions:
    """How CI pipelines are read: environment patterns (rollguard.yaml `pipelines.environments`) over the defaults."""

    environments: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class LoadOptions:
    """The reading options of every input kind in one value; each kind reads its own."""

    migrations: MigrationOptions = field(default_factory=MigrationOptions)
    pipelines: PipelineOptions = field(default_factory=PipelineOptions)


class InputKind(Protocol):
    """One kind of input file: how it is recognised and how a set of its files becomes artifacts."""

    @property
    def name(self) -> str:
        """The artifact kind it produces (`Artifact.kind`), also the name of its loader module."""
        ...

    @property
    def domain(self) -> str:
        """The policy domain that judges it: `rollguard.<domain>.*` and `fixtures/<domain>/`."""
        ...

    @property
    def document_kinds(self) -> frozenset[str]:
        """The `kind` of its documents; empty for Kubernetes objects (any kind, judged through `input.review`)."""
        ...

    @property
    def suffixes(self) -> tuple[str, ...]:
        """File suffixes a directory walk picks up for it (named files and stdin are read whatever their name)."""
        ...

    @property
    def fixture_suffix(self) -> str:
        """The suffix of its policy fixtures (`allowed_*.yaml`)."""
        ...

    @property
    def read_together(self) -> bool:
        """True when its files are read together, once, after the others (migrations are ordered across files)."""
        ...

    def detects(self, name: str, text: str) -> bool:
        """Whether an input is of this kind; asked in registry order, so earlier kinds win."""
        ...

    def load(self, sources: Sequence[Source], options: LoadOptions) -> Loaded:
        """The artifacts of these files and the problems met reading them; never raises on bad input."""
        ...


def _each(load: FileLoader, sources: Sequence[Source]) -> Loaded:
    artifacts: list[Artifact] = []
    problems: list[InputProblem] = []
    for name, text in sources:
        found, bad = load(name, text)
        artifacts.extend(found)
        problems.extend(bad)
    return artifacts, problems


class Migrations:
    """SQL migrations: every `.sql` file, whatever it holds, read as one ordered set."""

    name = "migration"
    domain = "migration"
    document_kinds = frozenset({"MigrationFile"})  # migration.KIND, not imported here: sqlglot is slow to import
    suffixes = (".sql",)
    fixture_suffix = ".sql"
    read_together = True

    def detects(self, name: str, text: str) -> bool:
        """A `.sql` file name (migrations are never told apart by content)."""
        return Path(name).suffix.lower() in self.suffixes

    def load(self, sources: Sequence[Source], options: LoadOptions) -> Loaded:
        """One MigrationFile per file, in the order the migration tool applies them."""
        from rollguard.inputs.migration import load_migrations  # sqlglot is only imported when needed

        m = options.migrations
        return load_migrations(sources, tool=m.tool, dialect=m.dialect, include_down=m.include_down, pending=m.pending)


class TerraformPlans:
    """Terraform JSON plans (`terraform show -json`), told apart by content."""

    name = "terraform"
    domain = "terraform"
    document_kinds = frozenset({"TerraformPlan"})  # terraform.KIND: imported only for a file that may be a plan
    suffixes = (".json",)
    fixture_suffix = ".json"
    read_together = False

    def detects(self, name: str, text: str) -> bool:
        """Asked before Trivy reports: a truncated plan that mentions "SchemaVersion" must still be read as a plan."""
        if not might_be_plan(text):
            return False
        from rollguard.inputs import terraform

        return terraform.is_plan(name, text)

    def load(self, sources: Sequence[Source], options: LoadOptions) -> Loaded:
        """One TerraformPlan per file."""
        from rollguard.inputs import terraform

        return _each(terraform.load_text, sources)


class TrivyReports:
    """Trivy JSON reports: JSON like manifests, told apart by content whatever the file is called."""

    name = "scan"
    domain = "image"
    document_kinds = frozenset({scan.KIND})
    suffixes = (".json",)
    fixture_suffix = ".json"
    read_together = False

    def detects(self, name: str, text: str) -> bool:
        """A JSON object with a `SchemaVersion` key."""
        return scan.is_scan(name, text)

    def load(self, sources: Sequence[Source], options: LoadOptions) -> Loaded:
        """One ImageScan per file."""
        return _each(scan.load_text, sources)


class Pipelines:
    """GitHub Actions workflows and GitLab CI files: YAML like manifests, told apart by content and name."""

    name = "pipeline"
    domain = "pipeline"
    document_kinds = frozenset({"PipelineDefinition"})  # pipeline.KIND: imported only for a file that may be one
    suffixes = (".yaml", ".yml")
    fixture_suffix = ".yml"
    read_together = False

    def detects(self, name: str, text: str) -> bool:
        """Asked before manifests: a document with apiVersion and kind stays a manifest."""
        if not might_be_pipeline(name, text):
            return False
        from rollguard.inputs import pipeline

        return pipeline.is_pipeline(name, text)

    def load(self, sources: Sequence[Source], options: LoadOptions) -> Loaded:
        """One PipelineDefinition per file, with the configured environment patterns."""
        from rollguard.inputs import pipeline

        environments = dict(options.pipelines.environments)
        return _each(lambda name, text: pipeline.load_text(name, text, environments=environments), sources)


class Manifests:
    """Kubernetes manifests (YAML or JSON): whatever no other kind claims."""

    name = "k8s"
    domain = "k8s"
    document_kinds: frozenset[str] = frozenset()
    suffixes = (".yaml", ".yml", ".json")
    fixture_suffix = ".yaml"
    read_together = False

    def detects(self, name: str, text: str) -> bool:
        """Always: the fallback, last in the registry."""
        return True

    def load(self, sources: Sequence[Source], options: LoadOptions) -> Loaded:
        """One artifact per Kubernetes object (List items included)."""
        return _each(k8s.load_text, sources)


# Artifact kind → input kind, in detection order: the first kind whose `detects` says yes reads the input.
# Migrations come first because a `.sql` name decides before any content is looked at.
INPUT_KINDS: dict[str, InputKind] = {
    kind.name: kind for kind in (Migrations(), TerraformPlans(), TrivyReports(), Pipelines(), Manifests())
}

# Suffixes a directory walk picks up, the general ones first (as the "nothing to judge" message lists them).
WALKED_SUFFIXES: tuple[str, ...] = tuple(
    dict.fromkeys(suffix for kind in reversed(INPUT_KINDS.values()) for suffix in kind.suffixes)
)


def kind_of(name: str, text: str) -> InputKind:
    """The kind of one input, from its name and content; Kubernetes manifests when nothing else claims it."""
    return next(kind for kind in INPUT_KINDS.values() if kind.detects(name, text))
