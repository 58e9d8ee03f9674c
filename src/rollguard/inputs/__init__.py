"""Input loaders: turn files into artifacts (one module per artifact kind, registered in `kinds`) and a change set."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rollguard.errors import InputError
from rollguard.inputs.kinds import (
    INPUT_KINDS,
    WALKED_SUFFIXES,
    InputKind,
    LoadOptions,
    MigrationOptions,
    PipelineOptions,
    kind_of,
)
from rollguard.inputs.render import render as render_folder
from rollguard.inputs.render import rendered_folder, rendered_name, tool_for
from rollguard.model import Artifact, ChangeSet, InputProblem

__all__ = [
    "INPUT_KINDS",
    "MAX_INPUT_BYTES",
    "NOTHING_TO_JUDGE",
    "WALKED_SUFFIXES",
    "InputKind",
    "LoadOptions",
    "MigrationOptions",
    "PipelineOptions",
    "ReadOptions",
    "decode_text",
    "duplicate_objects",
    "iter_input_files",
    "kind_of",
    "load_change_set",
    "read_input",
    "read_rendered",
]

# rollguard's own configuration sits beside manifests; directory walks leave it out (named files are read).
_NOT_MANIFESTS = {"rollguard.yaml", "rollguard.yml", ".rollguard.yaml"}


def iter_input_files(
    paths: Sequence[str], *, problems: list[InputProblem] | None = None, render: bool = False
) -> Iterable[tuple[str, Path | None]]:
    """(display name, path) for every file named or found under a directory; `-` is stdin.

    With `render`, a walked folder holding a kustomization or a Helm chart (the outermost one:
    an overlay includes its bases) is one input, `(rendered name, folder)`, and its files are
    not walked. A folder the walk cannot enter is added to `problems` (when given): what is
    not read must not look judged.
    """
    for raw in paths:
        if raw == "-":
            yield "<stdin>", None
            continue
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path, problems, render=render)
        else:
            yield path.as_posix(), path


def _walk(root: Path, problems: list[InputProblem] | None, *, render: bool) -> list[tuple[str, Path]]:
    """The inputs under `root` (files, and with `render` folders to render), sorted by path; folders that
    cannot be read become problems."""

    def unreadable(exc: OSError) -> None:
        if problems is not None:
            where = Path(exc.filename).as_posix() if exc.filename else root.as_posix()
            problems.append(
                InputProblem(where, None, f"cannot read this folder ({exc.strerror}); its files were not judged")
            )

    found: list[Path] = []
    rendered: dict[Path, str] = {}  # folder → the tool that renders it
    for folder, dirs, files in os.walk(root, onerror=unreadable):
        base = Path(folder)
        tool = tool_for(files) if render else None
        if tool is not None:
            dirs.clear()  # nested kustomizations are bases of this one: rendered with it
            rendered[base] = tool
            found.append(base)
            continue
        dirs.sort()
        found.extend(base / f for f in files if Path(f).suffix.lower() in WALKED_SUFFIXES and f not in _NOT_MANIFESTS)
    return [(rendered_name(p.as_posix(), rendered[p]) if p in rendered else p.as_posix(), p) for p in sorted(found)]


# Larger files are refused before they are read: no real change needs more (docs/performance.md
# has the memory each judged object costs), and the cap bounds what one input can cost.
MAX_INPUT_BYTES = 64 * 1024 * 1024

NOTHING_TO_JUDGE = "nothing to judge"


@dataclass(frozen=True)
class ReadOptions:
    """How inputs are read: the size cap per file, and whether judging nothing is allowed."""

    max_bytes: int = MAX_INPUT_BYTES
    allow_empty: bool = False
    render: bool = True  # walked folders with a kustomization or Chart.yaml are rendered (inputs.render)


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
        files = list(iter_input_files([raw], problems=problems, render=reading.render))
        sources: list[tuple[str, str]] = []
        groups.append((raw, sources))
        if not files and Path(raw).is_dir() and not reading.allow_empty:
            # Most likely a wrong path: judging nothing must not look like a pass.
            problems.append(
                InputProblem(
                    Path(raw).as_posix(),
                    None,
                    f"{NOTHING_TO_JUDGE}: no {_listed(WALKED_SUFFIXES)} files in this folder; "
                    "check the path (or pass --allow-empty)",
                )
            )
        for name, path in files:
            if path is not None and path.is_dir():
                text, problem = read_rendered(name, path, max_bytes=reading.max_bytes)
            else:
                text, problem = read_input(name, path, max_bytes=reading.max_bytes)
            if problem is not None:
                problems.append(problem)
            elif text is not None:
                sources.append((name, text))
    groups.extend((name, [(name, text)]) for name, text in extra)
    options = LoadOptions(migrations=migrations or MigrationOptions(), pipelines=pipelines or PipelineOptions())
    together: dict[str, list[tuple[str, str]]] = {}  # kinds read as one set (migrations): their files, in order
    for raw, sources in groups:
        found_here = 0
        for name, text in sources:
            kind = kind_of(name, text)
            if kind.read_together:
                together.setdefault(kind.name, []).append((name, text))
                found_here += 1 if text.strip() else 0
                continue
            found, bad = kind.load([(name, text)], options)
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
    for kind in INPUT_KINDS.values():
        if kind.name in together:
            found, bad = kind.load(together[kind.name], options)
            artifacts.extend(found)
            problems.extend(bad)
    problems.extend(duplicate_objects(artifacts))
    return ChangeSet(artifacts=tuple(artifacts), problems=tuple(problems))


def _listed(suffixes: Sequence[str]) -> str:
    """`.yaml, .yml, .json or .sql`."""
    *rest, last = suffixes
    return f"{', '.join(rest)} or {last}" if rest else last


def _empty_message(name: str) -> str:
    if rendered_folder(name) is not None:
        return f"{NOTHING_TO_JUDGE}: the folder renders to no objects (pass --allow-empty if that is expected)"
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


def read_rendered(
    name: str, folder: Path, *, max_bytes: int = MAX_INPUT_BYTES
) -> tuple[str | None, InputProblem | None]:
    """What a walked kustomization or chart folder renders to (`name` from the walk), or why it cannot be rendered."""
    try:
        tool = tool_for({p.name for p in folder.iterdir()})
    except OSError as exc:
        return None, InputProblem(folder.as_posix(), None, f"cannot read this folder ({exc.strerror or exc})")
    if tool is None:
        return None, InputProblem(name, None, "not a kustomization or Helm chart folder any more; check the path")
    try:
        text = render_folder(folder.as_posix(), tool)
    except InputError as exc:
        return None, InputProblem(exc.file or folder.as_posix(), exc.line, exc.message)
    if len(text.encode()) > max_bytes:
        return None, InputProblem(
            folder.as_posix(), None, f"renders to more than the {_size(max_bytes)} input cap; raise --max-input-size"
        )
    return text, None


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
