"""Input loaders: turn files into artifacts (one module per artifact kind) and a change set."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rollguard.inputs import k8s, pipeline, scan, terraform
from rollguard.model import Artifact, ChangeSet, InputProblem

Loader = Callable[[str, str], tuple[list[Artifact], list[InputProblem]]]

# Artifact kind → loader of one file's text (display name, text).
LOADERS: dict[str, Loader] = {
    "k8s": k8s.load_text,
    "scan": scan.load_text,
    "pipeline": pipeline.load_text,
    "terraform": terraform.load_text,
}

_SUFFIXES = {".yaml", ".yml", ".json", ".sql"}
# Migrations are read as one ordered set (the tools order files by version), not file by file.
_MIGRATION_SUFFIXES = {".sql"}
# rollguard's own configuration sits beside manifests; directory walks leave it out (named files are read).
_NOT_MANIFESTS = {"rollguard.yaml", "rollguard.yml", ".rollguard.yaml"}


def iter_input_files(paths: Sequence[str]) -> Iterable[tuple[str, Path | None]]:
    """(display name, path) for every file named or found under a directory; `-` is stdin."""
    for raw in paths:
        if raw == "-":
            yield "<stdin>", None
            continue
        path = Path(raw)
        if path.is_dir():
            children = (p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES)
            for child in sorted(c for c in children if c.name not in _NOT_MANIFESTS):
                yield child.as_posix(), child
        else:
            yield path.as_posix(), path


@dataclass(frozen=True)
class MigrationOptions:
    """How .sql files are read: the tool that wrote them and the SQL dialect."""

    tool: str = "auto"
    dialect: str = "postgres"
    include_down: bool = False


def _kind_of(name: str, text: str) -> str:
    """The loader for one non-SQL input, from its content: Terraform plan, Trivy report, CI pipeline, else manifests."""
    # Plans first: a truncated plan that mentions "SchemaVersion" somewhere must still be read as a plan.
    if terraform.is_plan(name, text):
        return "terraform"
    if scan.is_scan(name, text):
        return "scan"
    # Workflows are YAML like manifests; a document with apiVersion and kind stays a manifest.
    return "pipeline" if pipeline.is_pipeline(name, text) else "k8s"


def load_change_set(
    paths: Sequence[str], *, extra: Iterable[tuple[str, str]] = (), migrations: MigrationOptions | None = None
) -> ChangeSet:
    """Read every input into one change set; unusable input becomes a problem, never an exception."""
    artifacts: list[Artifact] = []
    problems: list[InputProblem] = []
    sources: list[tuple[str, str]] = []
    for raw in paths:
        files = list(iter_input_files([raw]))
        if not files:
            # Most likely a wrong path: judging nothing must not look like a pass.
            problems.append(
                InputProblem(Path(raw).as_posix(), None, "no .yaml, .yml, .json or .sql files in this directory")
            )
        for name, path in files:
            if path is None:
                sources.append((name, sys.stdin.read()))
                continue
            try:
                sources.append((name, path.read_text(encoding="utf-8")))
            except FileNotFoundError:
                problems.append(InputProblem(name, None, "file not found; check the path"))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(InputProblem(name, None, f"cannot read file: {exc}"))
    sources.extend(extra)
    sql = [(name, text) for name, text in sources if Path(name).suffix.lower() in _MIGRATION_SUFFIXES]
    for name, text in sources:
        if Path(name).suffix.lower() in _MIGRATION_SUFFIXES:
            continue
        # Trivy reports are JSON like manifests: told apart by content, whatever the file is called.
        found, bad = LOADERS[_kind_of(name, text)](name, text)
        artifacts.extend(found)
        problems.extend(bad)
    if sql:
        from rollguard.inputs.migration import load_migrations  # sqlglot is only imported when needed

        options = migrations or MigrationOptions()
        found, bad = load_migrations(sql, tool=options.tool, dialect=options.dialect, include_down=options.include_down)
        artifacts.extend(found)
        problems.extend(bad)
    return ChangeSet(artifacts=tuple(artifacts), problems=tuple(problems))
