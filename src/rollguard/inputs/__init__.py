"""Input loaders: turn files into artifacts (one module per artifact kind) and a change set."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rollguard.inputs import k8s
from rollguard.model import Artifact, ChangeSet, InputProblem

Loader = Callable[[str, str], tuple[list[Artifact], list[InputProblem]]]

# Artifact kind → loader of one file's text (display name, text).
LOADERS: dict[str, Loader] = {"k8s": k8s.load_text}

_SUFFIXES = {".yaml", ".yml", ".json"}
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


def load_change_set(paths: Sequence[str], *, extra: Iterable[tuple[str, str]] = ()) -> ChangeSet:
    """Read every input into one change set; unusable input becomes a problem, never an exception."""
    artifacts: list[Artifact] = []
    problems: list[InputProblem] = []
    sources: list[tuple[str, str]] = []
    for raw in paths:
        files = list(iter_input_files([raw]))
        if not files:
            # Most likely a wrong path: judging nothing must not look like a pass.
            problems.append(InputProblem(Path(raw).as_posix(), None, "no .yaml, .yml or .json files in this directory"))
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
    for name, text in sources:
        found, bad = LOADERS["k8s"](name, text)
        artifacts.extend(found)
        problems.extend(bad)
    return ChangeSet(artifacts=tuple(artifacts), problems=tuple(problems))
