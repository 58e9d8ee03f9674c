"""Folders that are not plain manifests: a Kustomize base or overlay is rendered with `kubectl kustomize`
(or `kustomize build`), a Helm chart with `helm template`, and the output is judged as one input.

A kustomization's patches and a chart's templates are not valid objects on their own: judging
the files raw would report patches as broken objects and miss what the cluster really receives.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from rollguard.errors import InputError, one_line
from rollguard.inputs.yamltext import safe_load

__all__ = [
    "CHART_FILE",
    "KUSTOMIZATION_FILES",
    "RENDER_TIMEOUT",
    "kustomize",
    "render",
    "render_sources",
    "rendered_folder",
    "rendered_name",
    "rendered_origin",
    "tool_for",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
TOOLS = ("kustomize", "helm")
RENDER_TIMEOUT = 120.0  # seconds per rendering

# kubectl's log header (`E1206 11:44:00.791961  10415 run.go:72] "command failed" err=`): noise in a message.
_KLOG_HEADER = re.compile(r'^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] (?:"command failed" err=)?')


def tool_for(names: Collection[str]) -> str | None:
    """`kustomize` or `helm` when a folder holding files `names` is rendered, else None.

    A folder with both is a kustomization (one that may inflate the chart itself).
    """
    if any(name in names for name in KUSTOMIZATION_FILES):
        return "kustomize"
    return "helm" if CHART_FILE in names else None


def rendered_name(folder: str, tool: str) -> str:
    """How findings of a rendered folder name it: `overlays/prod (kustomize)`."""
    return f"{folder} ({tool})"


def rendered_origin(name: str) -> tuple[str, str] | None:
    """(folder, tool) of a rendered input's name (`rendered_name`); None for any other input."""
    for tool in TOOLS:
        suffix = f" ({tool})"
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], tool
    return None


def rendered_folder(name: str) -> str | None:
    """The folder a rendered input's name (`rendered_name`) names; None for any other input."""
    origin = rendered_origin(name)
    return origin[0] if origin is not None else None


def kustomize(directory: str) -> tuple[str, str]:
    """`--kustomize DIR`: (display name, rendered text); an InputError naming the folder when it cannot be rendered."""
    return rendered_name(directory, "kustomize"), render(directory, "kustomize", option="--kustomize")


def render(folder: str, tool: str, *, option: str | None = None) -> str:
    """The manifests `tool` renders from `folder`; an InputError naming the folder when it cannot.

    `option` names the command-line option that asked for it, for messages (None: found by a walk).
    """
    command = _command(folder, tool, option=option)
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"{tool} did not finish within {RENDER_TIMEOUT:g} s", file=folder) from exc
    except OSError as exc:
        raise InputError(f"cannot run {command[0]}: {exc.strerror or exc}", file=folder) from exc
    if proc.returncode != 0:
        raise InputError(f"{tool} failed: {_reason(proc.stderr) or f'exit code {proc.returncode}'}", file=folder)
    return proc.stdout


def _reason(stderr: str) -> str:
    """The tool's error on one line, without kubectl's log header and quoting."""
    text = one_line(_KLOG_HEADER.sub("", stderr.strip()))
    if len(text) > 1 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1].replace('\\"', '"')
    return text


def _command(folder: str, tool: str, *, option: str | None) -> list[str]:
    """The argument list that renders `folder`; `--` ends the options, so a folder named `-o...` stays a folder."""
    if tool == "kustomize":
        kubectl, kustomize_ = shutil.which("kubectl"), shutil.which("kustomize")
        if kubectl:
            return [kubectl, "kustomize", "--", folder]
        if kustomize_:
            return [kustomize_, "build", "--", folder]
        what = "--kustomize needs" if option else "this folder holds a kustomization; rendering it needs"
        raise InputError(
            f"{what} kubectl or kustomize on PATH; install one, or render it yourself "
            "(`kubectl kustomize DIR | rollguard check -`)",
            file=folder,
        )
    helm = shutil.which("helm")
    if helm is None:
        raise InputError(
            "this folder holds a Helm chart (Chart.yaml); rendering it needs helm on PATH: install helm, or render "
            "it yourself (`helm template NAME DIR | rollguard check -`); its files were not judged",
            file=folder,
        )
    return [helm, "template", "--", folder]


def render_sources(folder: Path, tool: str) -> frozenset[Path]:
    """The folders (resolved) whose files make what `folder` renders to: itself, and the local bases and
    components a kustomization reaches outside it, or the `file://` dependencies of a chart.

    Kustomize loads patches and generator files only from inside a kustomization's own folder;
    only `resources`, `components` (and the old `bases`) may name folders elsewhere.
    """
    found: set[Path] = set()
    pending = [(folder.resolve(), tool)]
    while pending:
        current, kind = pending.pop()
        if current in found:
            continue
        found.add(current)
        for entry in _references(current, kind):
            target = (current / entry).resolve()
            try:
                names = {p.name for p in target.iterdir()} if target.is_dir() else None
            except OSError:
                names = None  # the tool reports it when it renders
            if names is not None:
                pending.append((target, tool_for(names) or kind))
    return frozenset(found)


def _references(folder: Path, tool: str) -> list[str]:
    """Local paths the kustomization (or Chart.yaml) in `folder` names; unreadable files name none."""
    names = KUSTOMIZATION_FILES if tool == "kustomize" else (CHART_FILE,)
    document: Any = None
    for name in names:
        path = folder / name
        if path.is_file():
            try:
                document = safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                return []  # the tool reports it when it renders
            break
    if not isinstance(document, dict):
        return []
    if tool == "helm":
        deps = document.get("dependencies")
        repositories = [d.get("repository") for d in deps if isinstance(d, dict)] if isinstance(deps, list) else []
        return [r.removeprefix("file://") for r in repositories if isinstance(r, str) and r.startswith("file://")]
    entries: list[str] = []
    for key in ("resources", "components", "bases"):
        values = document.get(key)
        if isinstance(values, list):
            entries.extend(v for v in values if isinstance(v, str) and "://" not in v and not v.startswith("git@"))
    return entries
