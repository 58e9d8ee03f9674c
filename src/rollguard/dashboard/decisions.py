"""The fleet view: what the decision log says of every service in every environment, for the dashboard's pages.

The audit report's reader (`report_from_store`) checks each record and the chain; this module
adds what a release day needs on top: which service a record is about, its version and image
digests, the last decision per service and environment, the promotion path and canary verdicts.
Every page and its JSON come from one `Fleet`, so they cannot disagree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollguard.audit.record import StoredRecord
from rollguard.audit.report import ChainResult, DecisionEntry, FindingEntry, WaiverEntry
from rollguard.audit.store import DecisionStore, redact_url
from rollguard.governance.rollouts import open_rollouts
from rollguard.kube.images import ImageRef
from rollguard.kube.workloads import WORKLOAD_KINDS
from rollguard.policy.config import Waiver

# Sources whose records are gate decisions on a change (a cluster audit judges what already runs,
# a canary judgement is shown beside the gate's decision, not instead of it).
GATE_SOURCES = frozenset({"ci", "admission"})
NO_ENVIRONMENT = "(none)"


@dataclass(frozen=True)
class Image:
    """An image a service ran in a decision, with its sha256 digest when it was pinned."""

    image: str
    digest: str | None


@dataclass(frozen=True)
class Canary:
    """A recorded canary judgement: its score against the thresholds and why."""

    score: float | None
    verdict: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ServiceDecision:
    """One decision as it concerns one service (a record about several services gives one per service)."""

    service: str  # the workload's name: one service keeps its name across environments and namespaces
    seq: int
    time: str
    environment: str
    source: str
    verdict: str
    dry_run: bool
    actor: str | None
    approval: str | None
    commit: str | None
    commit_url: str | None
    run_url: str | None
    kind: str
    namespace: str | None
    version: str | None
    images: tuple[Image, ...]
    blocking: int  # blocking findings of the whole decision
    findings: int  # unwaived findings of the whole decision
    waivers: tuple[str, ...]  # ids of the waivers that silenced a finding of the decision
    canary: Canary | None

    @property
    def digests(self) -> tuple[str, ...]:
        """The sha256 digests of the pinned images."""
        return tuple(i.digest for i in self.images if i.digest)


@dataclass(frozen=True)
class Cell:
    """The matrix cell of one service in one environment: its last gate decision and last canary judgement."""

    decision: ServiceDecision | None
    canary: ServiceDecision | None
    waivers: tuple[WaiverEntry, ...]  # the decision's waivers as they stand today


@dataclass(frozen=True)
class Row:
    """One service's row of the matrix, a cell per shown environment."""

    service: str
    namespaces: tuple[str, ...]
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Matrix:
    """Services × environments, filtered as the query string asked."""

    environments: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Promotion:
    """One image (by digest, else by reference) and when it first passed each environment of the path."""

    image: str
    digest: str | None
    version: str | None
    passed: tuple[str | None, ...]  # the first passing decision's time per environment, None where it has not


@dataclass(frozen=True)
class ServiceView:
    """Everything the service page shows."""

    name: str
    environments: tuple[str, ...]  # the promotion path, else the order environments appear in
    decisions: tuple[ServiceDecision, ...]  # newest first, after the filters
    last: ServiceDecision | None  # the last gate decision shown
    findings: tuple[FindingEntry, ...]  # of `last`
    promotion: tuple[Promotion, ...]
    canaries: tuple[ServiceDecision, ...]  # newest first


@dataclass(frozen=True)
class Fleet:
    """The decision log read for the dashboard, as of `now`."""

    store: str  # password redacted
    generated_at: str
    environments: tuple[str, ...]
    decisions: tuple[ServiceDecision, ...]  # by decision time, then chain order
    entries: Mapping[int, DecisionEntry]  # by seq
    waivers: tuple[WaiverEntry, ...]
    chain: ChainResult
    # Rollouts started (`rollguard rollout start`, `check --rollout-id`) and not finished, per
    # environment: `governance.rollouts.open_rollouts` entries, oldest first.
    rollouts: tuple[Mapping[str, Any], ...] = ()

    @property
    def services(self) -> tuple[str, ...]:
        """Every service the log names, sorted."""
        return tuple(sorted({d.service for d in self.decisions}))

    def matrix(self, *, environments: Sequence[str] = (), verdict: str | None = None, query: str = "") -> Matrix:
        """The last gate decision (not a dry run) per service and environment, filtered.

        `environments` limits the columns; `verdict` keeps the services with a cell of that
        verdict; `query` keeps the services whose name contains it.
        """
        shown = tuple(e for e in self.environments if not environments or e in environments)
        waivers = {w.id: w for w in self.waivers}
        last: dict[tuple[str, str], ServiceDecision] = {}
        canary: dict[tuple[str, str], ServiceDecision] = {}
        namespaces: dict[str, set[str]] = {}
        for d in self.decisions:
            namespaces.setdefault(d.service, set()).update([d.namespace] if d.namespace else [])
            key = (d.service, d.environment)
            if d.source == "canary":
                canary[key] = d
            elif d.source in GATE_SOURCES and not d.dry_run:
                last[key] = d
        rows = []
        for service in sorted(namespaces):
            if query and query.lower() not in service.lower():
                continue
            cells = []
            for env in shown:
                decision = last.get((service, env))
                used = decision.waivers if decision is not None else ()
                cells.append(
                    Cell(
                        decision=decision,
                        canary=canary.get((service, env)),
                        waivers=tuple(waivers[w] for w in used if w in waivers),
                    )
                )
            if verdict and not any(c.decision is not None and c.decision.verdict == verdict for c in cells):
                continue
            rows.append(Row(service=service, namespaces=tuple(sorted(namespaces[service])), cells=tuple(cells)))
        return Matrix(environments=shown, rows=tuple(rows))

    def service(self, name: str, *, environments: Sequence[str] = (), source: str | None = None) -> ServiceView | None:
        """The service page of `name`, its history limited to `environments` and `source`; None when the log never names it."""
        mine = [d for d in self.decisions if d.service == name]
        if not mine:
            return None
        shown = [
            d
            for d in mine
            if (not environments or d.environment in environments) and (source is None or d.source == source)
        ]
        gate = [d for d in shown if d.source in GATE_SOURCES and not d.dry_run]
        last = gate[-1] if gate else None
        entry = self.entries.get(last.seq) if last is not None else None
        return ServiceView(
            name=name,
            environments=self.environments,
            decisions=tuple(reversed(shown)),
            last=last,
            findings=entry.findings if entry is not None else (),
            promotion=_promotion(mine, self.environments),
            canaries=tuple(reversed([d for d in shown if d.source == "canary"])),
        )

    def waivers_in(self, states: Sequence[str] = ()) -> tuple[WaiverEntry, ...]:
        """The waivers in `states` (every state when empty), most urgent first."""
        return tuple(w for w in self.waivers if not states or w.state in states)


def read_fleet(
    store: DecisionStore,
    *,
    now: dt.datetime,
    rollguard_version: str,
    config_waivers: Sequence[Waiver] = (),
    promotion: Sequence[str] = (),
) -> Fleet:
    """Read and check every record of `store` (and its chain) into the fleet view.

    `config_waivers` are the waivers as rollguard.yaml states them today; `promotion` the
    environments in the order a change moves through them (rollguard.yaml `promotion:`).
    """
    from rollguard.audit.report_build import build_report

    records = list(store.records())
    report = build_report(
        records,
        chain=store.verify(),
        store_url=store.url,
        since=None,
        until=None,
        environment=None,
        now=now,
        rollguard_version=rollguard_version,
        config_waivers=config_waivers,
    )
    entries = {e.seq: e for e in report.decisions}
    # By the decision's time (`--now` when given), then chain order: what happened last comes last.
    # Rollout start and finish records judge nothing and name no service: they are listed apart.
    decisions = sorted(
        (d for r in records if r.source != "rollout" for d in _service_decisions(r, entries[r.seq])),
        key=lambda d: (d.time, d.seq),
    )
    rollouts = tuple(
        rollout
        for env in sorted({r.environment for r in records if r.environment is not None})
        for rollout in open_rollouts(
            r for r in records if r.environment == env and r.verdict == "pass" and r.body.get("dry_run") is not True
        )
    )
    seen = list(dict.fromkeys(d.environment for d in decisions))
    path = list(promotion)
    rest = sorted(e for e in seen if e not in path and e != NO_ENVIRONMENT)
    environments = (*path, *rest, *([NO_ENVIRONMENT] if NO_ENVIRONMENT in seen else []))
    return Fleet(
        store=redact_url(store.url),
        generated_at=report.generated_at,
        environments=environments,
        decisions=tuple(decisions),
        entries=entries,
        waivers=report.waivers,
        chain=report.chain,
        rollouts=rollouts,
    )


def _service_decisions(record: StoredRecord, entry: DecisionEntry) -> list[ServiceDecision]:
    """One ServiceDecision per workload the record names; none for a record about no workload (a migration)."""
    body = record.body
    canary = _canary(body.get("canary"))
    found: dict[tuple[str, str | None], tuple[str, str | None, tuple[str, ...]]] = {}
    workloads = body.get("workloads")
    for w in workloads if isinstance(workloads, list) else []:
        if isinstance(w, Mapping) and isinstance(w.get("name"), str) and isinstance(w.get("kind"), str):
            namespace = w.get("namespace") if isinstance(w.get("namespace"), str) else None
            images = tuple(i for i in w.get("images") or () if isinstance(i, str))
            version = w.get("version") if isinstance(w.get("version"), str) else None
            found[(w["name"], namespace)] = (w["kind"], version, images)
    if not found:
        # A canary judgement names its workload as a resource only; its version is the canary's.
        version = _canary_version(body.get("canary"))
        resources = body.get("resources")
        for r in resources if isinstance(resources, list) else []:
            if isinstance(r, Mapping) and r.get("kind") in WORKLOAD_KINDS and isinstance(r.get("name"), str):
                namespace = r.get("namespace") if isinstance(r.get("namespace"), str) else None
                found[(r["name"], namespace)] = (str(r["kind"]), version, ())
    waivers = tuple(sorted({f.waiver.id for f in entry.findings if f.waiver is not None and f.waived}))
    return [
        ServiceDecision(
            service=name,
            seq=entry.seq,
            time=entry.time,
            environment=entry.environment if entry.environment is not None else NO_ENVIRONMENT,
            source=entry.source,
            verdict=entry.verdict,
            dry_run=entry.dry_run,
            actor=entry.actor,
            approval=entry.approval,
            commit=entry.commit,
            commit_url=entry.commit_url,
            run_url=entry.run_url,
            kind=kind,
            namespace=namespace,
            version=version,
            images=tuple(Image(image=i, digest=ImageRef.parse(i).sha256) for i in images),
            blocking=sum(1 for f in entry.findings if f.blocking),
            findings=sum(1 for f in entry.findings if not f.waived),
            waivers=waivers,
            canary=canary,
        )
        for (name, namespace), (kind, version, images) in sorted(
            found.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        )
    ]


def _canary(value: object) -> Canary | None:
    if not isinstance(value, Mapping):
        return None
    score = value.get("score")
    reasons = value.get("reasons")
    return Canary(
        score=float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
        verdict=str(value.get("verdict", "")),
        reasons=tuple(r for r in reasons if isinstance(r, str)) if isinstance(reasons, list) else (),
    )


def _canary_version(value: object) -> str | None:
    settings = value.get("settings") if isinstance(value, Mapping) else None
    canary = settings.get("canary") if isinstance(settings, Mapping) else None
    version = canary.get("version") if isinstance(canary, Mapping) else None
    return version if isinstance(version, str) else None


def _promotion(decisions: Sequence[ServiceDecision], environments: Sequence[str]) -> tuple[Promotion, ...]:
    """Each image the service ran, newest first, with the first time it passed each environment."""
    first_pass: dict[tuple[str, str], str] = {}
    images: dict[str, tuple[Image, str | None]] = {}
    for d in decisions:
        if d.source not in GATE_SOURCES:
            continue
        for image in d.images:
            # A digest names the bytes; an unpinned reference is all there is to follow otherwise.
            key = image.digest or image.image
            images.setdefault(key, (image, d.version))
            if d.verdict == "pass" and not d.dry_run:
                first_pass.setdefault((key, d.environment), d.time)
    rows = [
        Promotion(
            image=image.image,
            digest=image.digest,
            version=version,
            passed=tuple(first_pass.get((key, env)) for env in environments),
        )
        for key, (image, version) in images.items()
    ]
    return tuple(reversed(rows))


# ---- the chart of a service's decisions --------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One decision on the chart: where it is drawn, and what its tooltip and link say."""

    x: float
    y: float
    seq: int
    verdict: str
    source: str
    label: str


@dataclass(frozen=True)
class Chart:
    """An SVG timeline: a lane per environment, a mark per decision, time left to right."""

    width: int
    height: int
    lanes: tuple[tuple[str, float], ...]  # environment and its lane's y
    points: tuple[Point, ...]
    ticks: tuple[tuple[float, str], ...]  # x and the date under it


CHART_WIDTH, LANE_HEIGHT, LEFT, RIGHT, TOP, TICK_SPACING = 760, 34, 110, 40, 14, 80


def chart(decisions: Sequence[ServiceDecision], environments: Sequence[str]) -> Chart:
    """The chart of `decisions` over the lanes of `environments` (those that have a decision)."""
    lanes_shown = [e for e in environments if any(d.environment == e for d in decisions)]
    height = TOP + LANE_HEIGHT * max(len(lanes_shown), 1) + 24
    lanes = tuple((env, TOP + LANE_HEIGHT * i + LANE_HEIGHT / 2) for i, env in enumerate(lanes_shown))
    times = [_moment(d.time) for d in decisions]
    if not times:
        return Chart(CHART_WIDTH, height, lanes, (), ())
    start, end = min(times), max(times)
    span = (end - start).total_seconds() or 1.0
    inner = CHART_WIDTH - LEFT - RIGHT

    def x_of(moment: dt.datetime) -> float:
        if end == start:
            return LEFT + inner / 2
        return round(LEFT + inner * (moment - start).total_seconds() / span, 1)

    lane_y = dict(lanes)
    points = tuple(
        Point(
            x=x_of(moment),
            y=lane_y[d.environment],
            seq=d.seq,
            verdict=d.verdict,
            source=d.source,
            label=f"#{d.seq} {d.time[:19]}Z {d.environment} {d.source} {d.verdict}"
            + (f" {d.version}" if d.version else ""),
        )
        for d, moment in zip(decisions, times, strict=True)
    )
    # A tick at each midnight inside the span (the first decision's day at its start), at least
    # TICK_SPACING apart so the dates never overlap.
    ticks: list[tuple[float, str]] = []
    for day in sorted({m.date() for m in times}):
        midnight = dt.datetime.combine(day, dt.time.min, tzinfo=dt.timezone.utc)
        x = x_of(max(start, midnight))
        if not ticks or x - ticks[-1][0] >= TICK_SPACING:
            ticks.append((x, day.isoformat()))
    return Chart(CHART_WIDTH, height, lanes, points, tuple(ticks))


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_json(value: Any) -> Any:
    """A fleet value (dataclasses, tuples, mappings) as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        document = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, ServiceDecision):
            document["digests"] = list(value.digests)
        return document
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value
