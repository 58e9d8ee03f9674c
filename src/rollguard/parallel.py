"""Judge a large change on several cores. On OPA, threads of this process judge a share of the
documents each with its own engine (OPA's evaluation releases the GIL); on the other engines,
spawned workers each read the same inputs, build the same inventory and judge their share of
the documents. The parent merges and decides.

Workers are started with `spawn`, never `fork`: the OPA bridge's Go runtime does not survive a
fork. Reading the inputs in every worker costs less than shipping parsed documents and the
inventory between processes, and keeps every worker's view of the change identical.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from rollguard.contract import build_inventory
from rollguard.engine import create_engine
from rollguard.gate import Gate, document_kind
from rollguard.inputs import MigrationOptions, PipelineOptions, ReadOptions, iter_input_files, load_change_set
from rollguard.inputs.pending import UnchangedInputs
from rollguard.model import Artifact, ChangeSet, Decision, Finding, InputProblem, Release, SinceScope
from rollguard.policy.bundle import PolicySources
from rollguard.policy.config import Settings
from rollguard.releases import duplicates_per_release, group_releases

# Below this much input a second process costs more (start-up, imports, compiling the
# policies) than it saves; measured with `make bench` (docs/performance.md).
MIN_BYTES_PER_JOB = 384 * 1024


@dataclass(frozen=True)
class Job:
    """Everything a process needs to judge its share of one change."""

    policies: PolicySources
    settings: Settings
    engine: str
    now: dt.datetime
    paths: tuple[str, ...]
    extra: tuple[tuple[str, str], ...] = ()
    engine_options: tuple[tuple[str, str], ...] = ()  # opa_url / opa_token for the opa-server engine
    migrations: MigrationOptions = MigrationOptions()
    reading: ReadOptions = ReadOptions()
    problems: tuple[InputProblem, ...] = ()  # met before the job (stdin that is not text)
    release_by: str = "auto"  # releases.group_releases
    unchanged: UnchangedInputs | None = None  # `--since`: inputs that only give context, not judged
    # `--namespace-usage`: the cluster's Pods, ResourceQuotas and LimitRanges, inventory only.
    outside: tuple[Mapping[str, Any], ...] = ()


def _prepare(job: Job) -> tuple[Gate, ChangeSet, list[Artifact], tuple[Release, ...]]:
    """Read the inputs, group them into releases and load a gate whose inventory is the whole change."""
    change = load_change_set(
        list(job.paths),
        extra=job.extra,
        migrations=job.migrations,
        reading=job.reading,
        problems=job.problems,
        pipelines=PipelineOptions(environments=job.settings.pipeline_environments),
    )
    artifacts = list(change.artifacts)
    releases = group_releases(artifacts, job.release_by)
    change = duplicates_per_release(change, releases)
    gate = Gate(
        bundle=job.policies.load(),
        engine=create_engine(job.engine, **dict(job.engine_options)),
        settings=job.settings,
        now=job.now,
        inventory=build_inventory([*job.outside, *(a.document for a in artifacts if a.kind == "k8s")]),
        warm=False,
        kinds=frozenset(document_kind(a) for a in artifacts),
        outside=job.outside,
    )
    return gate, change, artifacts, releases


def _judged(job: Job, artifacts: list[Artifact]) -> list[Artifact]:
    """The artifacts to judge: all of them, or with `--since` those of the changed inputs."""
    if job.unchanged is None:
        return artifacts
    names = job.unchanged.names
    return [a for a in artifacts if a.file not in names]


def _scoped(job: Job, decision: Decision, artifacts: list[Artifact], judged: list[Artifact]) -> Decision:
    """`decision` saying, with `--since`, how many files were judged and how many gave context."""
    if job.unchanged is None:
        return decision
    judged_ids = {id(a) for a in judged}
    context = [a for a in artifacts if id(a) not in judged_ids]
    scope = SinceScope(
        ref=job.unchanged.ref,
        judged_files=len({a.file for a in judged}),
        context_files=len({a.file for a in context}),
        context_resources=len(context),
    )
    return replace(decision, since=scope)


def _work(job: Job, rank: int, jobs: int) -> list[Finding]:
    """Worker entry point: raw findings for every `jobs`-th document to judge, starting at `rank`."""
    gate, change, artifacts, releases = _prepare(job)
    return _evaluate(gate, change, _judged(job, artifacts)[rank::jobs], releases)


def _evaluate(gate: Gate, change: ChangeSet, share: list[Artifact], releases: tuple[Release, ...]) -> list[Finding]:
    if len(releases) > 1:
        return gate.evaluate_releases(share, change, releases)
    # Built here, not with the gate: the simulation it may hold depends on the policies compiled.
    return gate.evaluate(share, changeset=gate.changeset_for(change.artifacts))


def auto_jobs(job: Job) -> int:
    """How many processes are worth starting for the size of the inputs."""
    if job.engine == "opa-server":
        return 1  # workers would overwrite each other's documents in the shared server's data
    size = 0
    for _, path in iter_input_files(job.paths):
        try:
            size += path.stat().st_size if path is not None else 0
        except OSError:
            continue
    size += sum(len(text) for _, text in job.extra)
    return max(1, min(os.cpu_count() or 1, size // MIN_BYTES_PER_JOB))


@dataclass(frozen=True)
class Judgement:
    """The gate that judged, the change it read and the decision it took."""

    gate: Gate
    change: ChangeSet
    decision: Decision


# Engines whose evaluation releases the GIL: with these, `jobs` threads in this process, one
# engine each, judge faster than processes, which read the inputs and start up again
# (`make bench-parallel`, docs/performance.md).
THREADED_ENGINES = frozenset({"opa"})


def judge(job: Job, *, jobs: int) -> Judgement:
    """Judge the change described by `job` on `jobs` threads or processes (this one included)."""
    if jobs <= 1:
        gate, change, artifacts, releases = _prepare(job)
        judged = _judged(job, artifacts)
        scope = None if job.unchanged is None else judged
        decision = gate.judge(change, inventory=gate.inventory, releases=releases, judged=scope)
        return Judgement(gate, change, _scoped(job, decision, artifacts, judged))
    if job.engine in THREADED_ENGINES:
        return _judge_threads(job, jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs - 1, mp_context=context) as pool:
        # Workers start first so their start-up overlaps this process's own share.
        futures: list[Future[list[Finding]]] = [pool.submit(_work, job, rank, jobs) for rank in range(1, jobs)]
        gate, change, artifacts, releases = _prepare(job)
        judged = _judged(job, artifacts)
        findings = _evaluate(gate, change, judged[0::jobs], releases)
        for future in futures:
            findings.extend(future.result())
    decision = gate.decide(change, findings, judged=None if job.unchanged is None else judged)
    decision = replace(decision, releases=releases) if len(releases) > 1 else decision
    return Judgement(gate, change, _scoped(job, decision, artifacts, judged))


def _judge_threads(job: Job, jobs: int) -> Judgement:
    """`judge` on `jobs` threads: the inputs are read once, and each thread judges every
    `jobs`-th document with its own engine (an engine is not shared between threads)."""
    gate, change, artifacts, releases = _prepare(job)
    judged = _judged(job, artifacts)
    gates = [gate] + [
        replace(gate, engine=create_engine(job.engine, **dict(job.engine_options))) for _ in range(1, jobs)
    ]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="rollguard-judge") as pool:
        shares = pool.map(lambda rank: _evaluate(gates[rank], change, judged[rank::jobs], releases), range(jobs))
        findings = [f for share in shares for f in share]
    decision = gate.decide(change, findings, judged=None if job.unchanged is None else judged)
    decision = replace(decision, releases=releases) if len(releases) > 1 else decision
    return Judgement(gate, change, _scoped(job, decision, artifacts, judged))
