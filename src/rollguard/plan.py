"""`rollguard plan order`: the order in which the parts of a change can roll out safely.

Expand-phase migrations go first (old and new code both run on the expanded schema), then the
workloads in waves, every provider before the workloads that declare they depend on it
(`rollguard.io/depends-on` or rollguard.yaml `dependencies:`), then contract-phase migrations
(once no old code is left that needs what they remove). Workloads of one wave do not depend on
each other and may roll out together. docs/dependencies.md describes the rules.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollguard.errors import InputError
from rollguard.kube.workloads import WORKLOAD_KINDS, pod_template, workload_of
from rollguard.model import Artifact, ChangeSet, InputProblem

if TYPE_CHECKING:
    from rollguard.simulate.pods import SimulationOptions

DEPENDS_ON = "rollguard.io/depends-on"
# Kinds that run a service other workloads can depend on; the plan orders every WORKLOAD_KIND.
PROVIDER_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Rollout", "DeploymentConfig"})

_NAME = r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?"
# The same grammar as the governance.dependency_order policy's.
_ENTRY = re.compile(rf"^(?:(?P<namespace>{_NAME})/)?(?P<name>{_NAME})(?:\s*>=\s*(?P<minimum>\S+))?$")


@dataclass(frozen=True)
class Requirement:
    """One declared dependency: a provider (namespace/name) and an optional minimum version."""

    namespace: str
    name: str
    minimum: str | None
    source: str  # `annotation rollguard.io/depends-on` or `rollguard.yaml dependencies`

    @property
    def provider(self) -> str:
        """`namespace/name` of the provider."""
        return f"{self.namespace}/{self.name}"

    def display(self) -> str:
        """`shop/payments>=2.4.0` or `shop/payments`."""
        return f"{self.provider}>={self.minimum}" if self.minimum else self.provider


def parse_requirements(text: str, *, namespace: str, source: str) -> list[Requirement]:
    """The entries of a comma-separated `depends-on` list; ValueError names the first bad entry."""
    found = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        m = _ENTRY.match(entry)
        if m is None:
            raise ValueError(
                f"cannot read {entry!r} in {source}: write `name`, `name>=version` or `namespace/name>=version`, "
                "separated by commas"
            )
        found.append(Requirement(m["namespace"] or namespace, m["name"], m["minimum"], source))
    return found


@dataclass(frozen=True)
class Step:
    """One thing to roll out: a workload or a migration file, with where it is defined."""

    wave: int
    kind: str  # the document kind: Deployment, ..., MigrationFile
    name: str  # `namespace/name` for workloads, the file name for migrations
    file: str
    line: int
    phase: str  # `expand`, `rollout` or `contract`
    version: str | None = None
    after: tuple[str, ...] = ()  # providers (namespace/name) of this change it waits for

    def display(self) -> str:
        """`Deployment shop/web` or `MigrationFile V3__add_column.sql`."""
        return f"{self.kind} {self.name}"

    def to_json(self) -> dict[str, Any]:
        """An entry of `plan order --format json`'s `steps`."""
        return {
            "wave": self.wave,
            "phase": self.phase,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "file": self.file,
            "line": self.line,
            "after": list(self.after),
        }


@dataclass(frozen=True)
class WaveNote:
    """What the simulation says of a rollout wave: how long it takes, and why it was split."""

    duration_seconds: float | None  # the longest rollout of the wave; None when one has no end
    unbounded: tuple[str, ...] = ()  # the workloads without an end the files can tell
    split: str | None = None
    over_quota: tuple[str, ...] = ()  # workloads whose surge does not fit even alone

    def to_json(self) -> dict[str, Any]:
        """The simulation's part of an entry of `plan order --format json`'s `waves`."""
        return {
            "duration_seconds": self.duration_seconds,
            "unbounded": list(self.unbounded),
            "split": self.split,
            "over_quota": list(self.over_quota),
        }


@dataclass(frozen=True)
class Plan:
    """The waves of a change and the dependencies it leaves to what is already deployed."""

    steps: tuple[Step, ...]
    external: tuple[tuple[str, Requirement], ...] = ()  # (consumer, requirement) on providers outside the change
    problems: tuple[InputProblem, ...] = field(default=())
    notes: Mapping[int, WaveNote] = field(default_factory=dict)  # rollout wave → what the simulation says

    def duration_seconds(self) -> float | None:
        """The rollout waves one after another; None without a simulation or when one has no end."""
        if not self.notes or any(n.duration_seconds is None for n in self.notes.values()):
            return None
        return sum(n.duration_seconds or 0.0 for n in self.notes.values())

    def waves(self) -> list[list[Step]]:
        """Steps grouped by wave, in order."""
        grouped: dict[int, list[Step]] = {}
        for step in self.steps:
            grouped.setdefault(step.wave, []).append(step)
        return [grouped[w] for w in sorted(grouped)]

    def to_json(self) -> dict[str, Any]:
        """`plan order --format json`."""
        return {
            "steps": [s.to_json() for s in self.steps],
            "waves": [
                {
                    "wave": number,
                    "phase": wave[0].phase,
                    **(self.notes[number].to_json() if number in self.notes else {}),
                }
                for number, wave in ((w[0].wave, w) for w in self.waves())
            ],
            "duration_seconds": self.duration_seconds(),
            "external": [
                {"consumer": consumer, "provider": r.provider, "minimum": r.minimum, "source": r.source}
                for consumer, r in self.external
            ],
            "errors": [p.to_json() for p in self.problems],
        }


class DependencyCycleError(InputError):
    """Workloads of the change depend on each other in a circle: no order rolls them out safely."""


def _annotations(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's annotations over its pod template's (the object's own win)."""
    merged: dict[str, Any] = {}
    for meta in (pod_template(document).get("metadata"), document.get("metadata")):
        annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
        if isinstance(annotations, Mapping):
            merged.update(annotations)
    return merged


def _requirements(
    artifact: Artifact, dependencies: Mapping[str, Sequence[str]]
) -> tuple[list[Requirement], list[InputProblem]]:
    """What the workload declares it needs, from its annotation and from rollguard.yaml."""
    namespace = artifact.resource.namespace or "default"
    found: list[Requirement] = []
    problems: list[InputProblem] = []
    value = _annotations(artifact.document).get(DEPENDS_ON)
    declared: list[tuple[str, str]] = []
    if value is not None:
        declared.append((str(value), f"annotation {DEPENDS_ON}"))
    for key in (f"{namespace}/{artifact.resource.name}", artifact.resource.name):
        declared.extend((entry, "rollguard.yaml dependencies") for entry in dependencies.get(key, ()))
    for text, source in declared:
        try:
            found.extend(parse_requirements(text, namespace=namespace, source=source))
        except ValueError as exc:
            problems.append(InputProblem(artifact.file, artifact.line, f"{artifact.resource.display()}: {exc}"))
    return found, problems


def plan_order(
    change: ChangeSet,
    *,
    dependencies: Mapping[str, Sequence[str]] | None = None,
    simulation: SimulationOptions | None = None,
    outside: Sequence[Mapping[str, Any]] = (),
) -> Plan:
    """The safe order of `change`; raises DependencyCycleError naming the cycle.

    With `simulation`, each rollout wave says how long it takes, and a wave whose surges do not
    fit a namespace's ResourceQuota together (the change's, or `outside`: the cluster's quotas,
    running Pods and LimitRanges) is split into waves that do (rollguard.simulate.waves)."""
    dependencies = dependencies or {}
    workloads = [a for a in change.artifacts if a.kind == "k8s" and a.resource.kind in WORKLOAD_KINDS]
    migrations = [a for a in change.artifacts if a.document.get("kind") == "MigrationFile"]
    ids = {_workload_id(a) for a in workloads}
    providers: dict[str, list[str]] = {}
    for a in workloads:
        if a.resource.kind in PROVIDER_KINDS:
            providers.setdefault(f"{a.resource.namespace or 'default'}/{a.resource.name}", []).append(_workload_id(a))
    graph: dict[str, set[str]] = {i: set() for i in ids}
    external: list[tuple[str, Requirement]] = []
    problems: list[InputProblem] = list(change.problems)
    needs: dict[str, set[str]] = {i: set() for i in ids}
    for a in workloads:
        requirements, bad = _requirements(a, dependencies)
        problems.extend(bad)
        me = _workload_id(a)
        for r in requirements:
            targets = [t for t in providers.get(r.provider, []) if t != me]
            if targets:
                graph[me].update(targets)
                needs[me].add(r.provider)
            else:
                external.append((a.resource.display(), r))
    waves = _waves(graph)
    by_id = {_workload_id(a): a for a in workloads}
    notes: dict[int, WaveNote] = {}
    if simulation is not None:
        waves, timed = _fitted(waves, by_id, change, simulation, outside)
    else:
        timed = []
    steps: list[Step] = []
    expand = [m for m in migrations if m.document.get("phase") != "contract"]
    contract = [m for m in migrations if m.document.get("phase") == "contract"]
    steps.extend(_migration_step(m, 0, "expand") for m in expand)
    first = 1 if expand else 0
    for offset, wave in enumerate(waves):
        for wid in wave:
            a = by_id[wid]
            steps.append(
                Step(
                    wave=first + offset,
                    kind=a.resource.kind,
                    name=f"{a.resource.namespace or 'default'}/{a.resource.name}",
                    file=a.file,
                    line=a.line,
                    phase="rollout",
                    version=(workload_of(a.document) or {}).get("version"),
                    after=tuple(sorted(needs[wid])),
                )
            )
    notes = {first + offset: note for offset, note in enumerate(timed)}
    last = first + len(waves)
    steps.extend(_migration_step(m, last, "contract") for m in contract)
    return Plan(steps=tuple(steps), external=tuple(external), problems=tuple(problems), notes=notes)


def _fitted(
    waves: list[list[str]],
    by_id: Mapping[str, Artifact],
    change: ChangeSet,
    options: SimulationOptions,
    outside: Sequence[Mapping[str, Any]],
) -> tuple[list[list[str]], list[WaveNote]]:
    """The dependency waves split to fit the quotas, and each one's simulated duration."""
    from rollguard.simulate import SIMULATED_KINDS
    from rollguard.simulate import waves as fit

    keys = {wid: fit.workload_key(a) for wid, a in by_id.items()}
    sims = fit.simulate_workloads(list(by_id.values()), change, options, outside)
    rooms = fit.namespace_rooms(change, outside, sims)
    fitted: list[list[str]] = []
    notes: list[WaveNote] = []
    for wave in waves:
        for part in fit.split_wave(wave, keys, sims, rooms):
            simulated = [sims[keys[wid]] for wid in part.ids if keys[wid] in sims]
            # A workload the simulation cannot read (`rollguard simulate` says why) has no known end either.
            unknown = [
                f"{by_id[wid].resource.display()} (not simulated)"
                for wid in part.ids
                if keys[wid] not in sims and by_id[wid].resource.kind in SIMULATED_KINDS
            ]
            unbounded = (*(w.display() for w in simulated if w.duration_seconds is None), *unknown)
            durations = [w.duration_seconds for w in simulated if w.duration_seconds is not None]
            fitted.append(list(part.ids))
            notes.append(
                WaveNote(
                    duration_seconds=None if unbounded else max(durations, default=0.0),
                    unbounded=unbounded,
                    split=part.split,
                    over_quota=part.alone,
                )
            )
    return fitted, notes


def _workload_id(a: Artifact) -> str:
    return f"{a.resource.kind} {a.resource.namespace or 'default'}/{a.resource.name}"


def _migration_step(a: Artifact, wave: int, phase: str) -> Step:
    name = a.file.rsplit("/", 1)[-1]
    return Step(wave=wave, kind="MigrationFile", name=name, file=a.file, line=a.line, phase=phase)


def _waves(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Topological waves of `graph` (node → the nodes it waits for), each wave sorted by name."""
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))  # graphlib lists a cycle from provider to consumer
        raise DependencyCycleError(
            "dependency cycle: "
            + " -> ".join(cycle)
            + "; each of these waits for the next, so none can roll out first: remove one `depends-on` entry "
            "or make one side tolerate the other's old version"
        ) from None
    waves = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        waves.append(ready)
        sorter.done(*ready)
    return waves


def render_text(plan: Plan) -> str:
    """The plan for a terminal: numbered waves, what each step waits for, and outside providers."""
    lines: list[str] = []
    titles = {"expand": "expand migrations", "rollout": "roll out", "contract": "contract migrations"}
    for number, wave in enumerate(plan.waves(), start=1):
        note = plan.notes.get(wave[0].wave)
        lines.append(f"{number}. {titles[wave[0].phase]}{_took(note)}")
        if note is not None and note.split:
            lines.append(f"   ({note.split})")
        if note is not None and note.over_quota:
            lines.append(
                f"   (does not fit the quota even alone: {', '.join(note.over_quota)}; see k8s.quota_headroom)"
            )
        for step in wave:
            version = f" {step.version}" if step.version else ""
            after = f"  (after {', '.join(step.after)})" if step.after else ""
            lines.append(f"   {step.display()}{version}  {step.file}:{step.line}{after}")
    if not plan.steps:
        lines.append("nothing to roll out: no workloads or migrations in the change")
    elif plan.notes:
        total = plan.duration_seconds()
        lines.append(
            f"rollouts take {_minutes(total)} one wave after another, by the simulation (docs/simulation.md)"
            if total is not None
            else "rollouts have no end the files can tell: a wave waits for a manual step"
        )
    if plan.external:
        lines.append("")
        lines.append("needs providers outside this change (deploy them first):")
        for consumer, r in plan.external:
            lines.append(f"   {consumer} needs {r.display()}  ({r.source})")
    return "\n".join(lines) + "\n"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:g} s"


def _took(note: WaveNote | None) -> str:
    """`  (about 20.5 min)` after a rollout wave's title; nothing without a simulation."""
    if note is None:
        return ""
    if note.duration_seconds is None:
        return f"  (no end the files can tell: {', '.join(note.unbounded)})"
    return f"  ({_minutes(note.duration_seconds)})"
