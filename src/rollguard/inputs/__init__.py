"""Input loaders: turn files into artifacts (one module per artifact kind) and a change set."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rollguard.inputs import k8s, pipeline, scan, terraform
from rollguard.inputs.pending import PendingSelection
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


def iter_input_files(
    paths: Sequence[str], *, problems: list[InputProblem] | None = None
) -> Iterable[tuple[str, Path | None]]:
    """(display name, path) for every file named or found under a directory; `-` is stdin.

    A folder the walk cannot enter is added to `problems` (when given): what is not read must
    not look judged.
    """
    for raw in paths:
        if raw == "-":
            yield "<stdin>", None
            continue
        path = Path(raw)
        if path.is_dir():
            for child in _walk(path, problems):
                yield child.as_posix(), child
        else:
            yield path.as_posix(), path


def _walk(root: Path, problems: list[InputProblem] | None) -> list[Path]:
    """The input files under `root`, sorted; folders that cannot be read become problems."""

    def unreadable(exc: OSError) -> None:
        if problems is not None:
            where = Path(exc.filename).as_posix() if exc.filename else root.as_posix()
            problems.append(
                InputProblem(where, None, f"cannot read this folder ({exc.strerror}); its files were not judged")
            )

    found: list[Path] = []
    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs.sort()
        base = Path(folder)
        found.extend(base / f for f in files if Path(f).suffix.lower() in _SUFFIXES and f not in _NOT_MANIFESTS)
    return sorted(found)


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

    def loader(self) -> Loader:
        """The pipeline loader with these options."""
        environments = dict(self.environments)
        return lambda name, text: pipeline.load_text(name, text, environments=environments)


def _kind_of(name: str, text: str) -> str:
    """The loader for one non-SQL input, from its content: Terraform plan, Trivy report, CI pipeline, else manifests."""
    # Plans first: a truncated plan that mentions "SchemaVersion" somewhere must still be read as a plan.
    if terraform.is_plan(name, text):
        return "terraform"
    if scan.is_scan(name, text):
        return "scan"
    # Workflows are YAML like manifests; a document with apiVersion and kind stays a manifest.
    return "pipeline" if pipeline.is_pipeline(name, text) else "k8s"


# Larger files are refused before they are read: no real change needs more (docs/performance.md
# has the memory each judged object costs), and the cap bounds what one input can cost.
MAX_INPUT_BYTES = 64 * 1024 * 1024

NOTHING_TO_JUDGE = "nothing to judge"


@dataclass(frozen=True)
class ReadOptions:
    """How inputs are read: the size cap per file, and whether judging nothing is allowed."""

    max_bytes: int = MAX_INPUT_BYTES
    allow_empty: bool = False


def load_change_set(
    paths: Sequence[str],
    *,
    extra: Iterable[tuple[str, str]] = (),
    migrations: MigrationOptions | None = None,
    reading: ReadOptions = ReadOptions(),
    problems: Iterable[InputProblem] = (),
    pipelines: PipelineOptions | None = None,
) -> ChangeSet:
    """Read every input into one change set; unusable input becomes a problem, never an exception.

    Unless `reading.allow_empty`, an input that yields nothing to judge (an empty or
    comment-only file, empty stdin, a folder without inputs) is a problem: a `helm template`
    that failed and printed nothing must not pass the gate.
    """
    artifacts: list[Artifact] = []
    problems = list(problems)  # met before (stdin that was not text), kept in order
    groups: list[tuple[str, list[tuple[str, str]]]] = []  # (input as given, its sources)
    for raw in paths:
        files = list(iter_input_files([raw], problems=problems))
        sources: list[tuple[str, str]] = []
        groups.append((raw, sources))
        if not files and Path(raw).is_dir() and not reading.allow_empty:
            # Most likely a wrong path: judging nothing must not look like a pass.
            problems.append(
                InputProblem(
                    Path(raw).as_posix(),
                    None,
                    f"{NOTHING_TO_JUDGE}: no .yaml, .yml, .json or .sql files in this folder; "
                    "check the path (or pass --allow-empty)",
                )
            )
        for name, path in files:
            text, problem = read_input(name, path, max_bytes=reading.max_bytes)
            if problem is not None:
                problems.append(problem)
            elif text is not None:
                sources.append((name, text))
    groups.extend((name, [(name, text)]) for name, text in extra)
    sql = [
        source for _, sources in groups for source in sources if Path(source[0]).suffix.lower() in _MIGRATION_SUFFIXES
    ]
    for raw, sources in groups:
        found_here = 0
        for name, text in sources:
            if Path(name).suffix.lower() in _MIGRATION_SUFFIXES:
                found_here += 1 if text.strip() else 0
                continue
            # Trivy reports are JSON like manifests: told apart by content, whatever the file is called.
            kind = _kind_of(name, text)
            load = pipelines.loader() if kind == "pipeline" and pipelines is not None else LOADERS[kind]
            found, bad = load(name, text)
            artifacts.extend(found)
            problems.extend(bad)
            found_here += len(found) + len(bad)
            if not found and not bad and len(sources) == 1 and not reading.allow_empty:
                problems.append(InputProblem(name, None, _empty_message(name)))
        if len(sources) > 1 and not found_here and not reading.allow_empty:
            problems.append(
                InputProblem(
                    Path(raw).as_posix(), None, f"{NOTHING_TO_JUDGE}: every file here is empty or holds only comments"
                )
            )
    if sql:
        from rollguard.inputs.migration import load_migrations  # sqlglot is only imported when needed

        options = migrations or MigrationOptions()
        found, bad = load_migrations(
            sql, tool=options.tool, dialect=options.dialect, include_down=options.include_down, pending=options.pending
        )
        artifacts.extend(found)
        problems.extend(bad)
    problems.extend(duplicate_objects(artifacts))
    return ChangeSet(artifacts=tuple(artifacts), problems=tuple(problems))


def _empty_message(name: str) -> str:
    what = "stdin was empty" if name == "<stdin>" else "the file is empty or holds only comments"
    return (
        f"{NOTHING_TO_JUDGE}: {what}; if it was rendered (helm template, kustomize), the rendering failed "
        "(pass --allow-empty if an empty input is expected)"
    )


def read_input(
    name: str, path: Path | None, *, max_bytes: int = MAX_INPUT_BYTES
) -> tuple[str | None, InputProblem | None]:
    """The text of one input (stdin when `path` is None), or why it cannot be read."""
    too_big = f"larger than the {_size(max_bytes)} input cap; split it or raise --max-input-size"
    try:
        if path is None:
            binary = getattr(sys.stdin, "buffer", None)  # None when stdin was replaced by a text stream
            data = binary.read(max_bytes + 1) if binary is not None else sys.stdin.read(max_bytes + 1).encode()
        else:
            if path.stat().st_size > max_bytes:
                return None, InputProblem(name, None, too_big)
            data = path.read_bytes()
    except FileNotFoundError:
        return None, InputProblem(name, None, "file not found; check the path")
    except OSError as exc:
        return None, InputProblem(name, None, f"cannot read file: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return None, InputProblem(name, None, too_big)
    return decode_text(name, data)


def _size(count: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count:,} bytes"


def decode_text(name: str, data: bytes) -> tuple[str | None, InputProblem | None]:
    """UTF-8 text (a byte-order mark allowed), or a problem naming the line of the first bad byte."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, InputProblem(
            name, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        )


def duplicate_objects(artifacts: Sequence[Artifact]) -> list[InputProblem]:
    """Two Kubernetes objects with the same group, kind, namespace and name in one change.

    The inventory holds one object per identity, so the second would silently replace the first
    in every cross-object rule; kubectl apply would also keep only one of them.
    """
    seen: dict[tuple[str, str, str, str], Artifact] = {}
    problems: list[InputProblem] = []
    for a in artifacts:
        if a.kind != "k8s" or a.resource.name.endswith(("<generated>", "<unnamed>")):
            continue  # no name, no identity (a kustomization.yaml, an object with generateName)
        group = a.resource.api_version.rpartition("/")[0]
        identity = (group, a.resource.kind, a.resource.namespace or "", a.resource.name)
        first = seen.setdefault(identity, a)
        if first is not a:
            problems.append(
                InputProblem(
                    a.file,
                    a.line,
                    f"{a.resource.display()} is defined twice in this change (also at {first.file}:{first.line}); "
                    "the later one would replace the first: remove or rename one",
                )
            )
    return problems
