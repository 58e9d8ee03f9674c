"""Build the audit report from decision records: read each record, then compute every section."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollguard.audit.controls import control_title
from rollguard.audit.record import RECORD_SCHEMA, StoredRecord, ci_links, format_time
from rollguard.audit.report import (
    NO_ENVIRONMENT,
    WAIVER_STATES,
    ChainResult,
    ConfigurationUse,
    ControlEvidence,
    ControlFinding,
    ControlPolicy,
    DayTrend,
    DecisionEntry,
    FindingEntry,
    Outcome,
    Period,
    PolicyFailures,
    Report,
    Tally,
    Totals,
    WaiverEntry,
    WaiverRef,
    WaiverState,
)
from rollguard.audit.store import ChainReport, DecisionStore, redact_url
from rollguard.errors import ConfigError, StoreError
from rollguard.model import Resource, Severity
from rollguard.policy.config import Waiver

# A waiver this close to its expiry is called out so its owner renews or retires it in time.
EXPIRING_DAYS = 30
# Quiet days are drawn as empty bars so gaps show; past a year the chart would be unreadable,
# so longer periods list only the days that have decisions.
MAX_FILLED_DAYS = 366
# The period of a report when the command line names neither end: what a monthly review reads.
DEFAULT_PERIOD_DAYS = 30


def report_period(
    since: dt.datetime | None, until: dt.datetime | None, *, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime, str | None]:
    """The report's `[since, until)`, with a note on the ends chosen for it when not given.

    Without `until`, the period runs to the end of today (UTC); without `since`, it starts
    DEFAULT_PERIOD_DAYS whole days before its end. A report is always about a stated period.
    """
    end_of_today = dt.datetime.combine(now.astimezone(dt.timezone.utc).date(), dt.time.min, tzinfo=dt.timezone.utc)
    end_of_today += dt.timedelta(days=1)
    span = dt.timedelta(days=DEFAULT_PERIOD_DAYS)
    if since is None and until is None:
        return end_of_today - span, end_of_today, f"the last {DEFAULT_PERIOD_DAYS} days: no --since or --until given"
    if until is None:
        assert since is not None
        if since >= end_of_today:
            raise ConfigError(f"--since {format_time(since)} is after today; give --until too")
        return since, end_of_today, "up to today: no --until given"
    if since is None:
        return until - span, until, f"the {DEFAULT_PERIOD_DAYS} days before --until: no --since given"
    return since, until, None


def report_from_store(
    store: DecisionStore,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    environment: str | None,
    now: dt.datetime,
    rollguard_version: str,
    config_waivers: Sequence[Waiver] = (),
    config: str | None = None,
    period_note: str | None = None,
) -> Report:
    """Verify `store`'s chain and build the report of its decisions in the period."""
    # Read the records first, so the verification covers every record the report shows.
    records = list(store.records(since=since, until=until, environment=environment))
    chain = store.verify()
    return build_report(
        records,
        chain=chain,
        store_url=store.url,
        since=since,
        until=until,
        environment=environment,
        now=now,
        rollguard_version=rollguard_version,
        config_waivers=config_waivers,
        config=config,
        period_note=period_note,
    )


def build_report(
    records: Iterable[StoredRecord],
    *,
    chain: ChainReport,
    store_url: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    environment: str | None,
    now: dt.datetime,
    rollguard_version: str,
    config_waivers: Sequence[Waiver] = (),
    config: str | None = None,
    period_note: str | None = None,
) -> Report:
    """The report of `records` (already selected for the period and environment)."""
    parsed = [_parse(r) for r in records]
    decisions = tuple(p.entry for p in parsed)
    # Rollout start and finish records (`rollguard rollout`) are listed and chained like the
    # others, but judge nothing: the totals, the days and the environments count gate decisions.
    judged = tuple(d for d in decisions if d.source != "rollout")
    return Report(
        generated_at=format_time(now),
        rollguard_version=rollguard_version,
        store=redact_url(store_url),
        period=Period(format_time(since) if since else None, format_time(until) if until else None, note=period_note),
        environment=environment,
        config=config,
        totals=_totals(judged),
        daily=_daily(judged, since=since, until=until),
        environments=_environments(judged),
        top_policies=_top_policies(judged),
        decisions=decisions,
        waivers=_waivers(parsed, config_waivers, environment=environment, now=now),
        controls=_controls(parsed),
        chain=ChainResult(
            ok=chain.ok,
            records=chain.records,
            head_seq=chain.head.seq if chain.head is not None else None,
            head_hash=chain.head.hash if chain.head is not None else None,
            broken_at=chain.broken_at,
            problem=chain.problem,
        ),
        configurations=_configurations(decisions),
    )


# ---- reading records -------------------------------------------------------------------------


@dataclass(frozen=True)
class _PolicyRef:
    id: str
    controls: tuple[str, ...]
    applies_to: frozenset[str]


@dataclass(frozen=True)
class _Parsed:
    """A record read into the report's types, plus what only the control evidence needs."""

    entry: DecisionEntry
    policies: tuple[_PolicyRef, ...]
    resources: tuple[Resource, ...]
    waivers: tuple[Mapping[str, Any], ...]


class _Fields:
    """Typed access to one record's JSON, naming the record and field when it is malformed."""

    def __init__(self, seq: int, where: str = "") -> None:
        self.seq = seq
        self.where = where

    def fail(self, key: str, expected: str) -> StoreError:
        return StoreError(
            f"record {self.seq}: {self.where}{key} is missing or not {expected}; "
            "the store holds a record this rollguard cannot read (run `rollguard audit verify`)"
        )

    def text(self, obj: Mapping[str, Any], key: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def opt_text(self, obj: Mapping[str, Any], key: str) -> str | None:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, "a string or null")
        return value

    def integer(self, obj: Mapping[str, Any], key: str) -> int:
        value = obj.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, "an integer")
        return value

    def objects(self, obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = obj.get(key)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, "a list of objects")
        return value

    def strings(self, obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
        value = obj.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a list of strings")
        return tuple(value)

    def mapping(self, obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = obj.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "an object")
        return value

    def at(self, where: str) -> _Fields:
        return _Fields(self.seq, f"{self.where}{where}.")


def _parse(record: StoredRecord) -> _Parsed:
    body = record.body
    fields = _Fields(record.seq)
    schema = body.get("schema")
    if schema != RECORD_SCHEMA:
        raise StoreError(
            f"record {record.seq} has schema {schema!r}; this rollguard reads schema {RECORD_SCHEMA} (upgrade rollguard)"
        )
    summary = fields.mapping(body, "summary")
    try:
        fail_on = Severity.parse(fields.at("summary").text(summary, "fail_on"))
    except ValueError as exc:
        raise StoreError(f"record {record.seq}: summary.fail_on: {exc}") from None
    change = fields.mapping(body, "change")
    commit = fields.at("change").opt_text(change, "commit")
    ci = change.get("ci")
    if ci is not None and not isinstance(ci, dict):
        raise fields.at("change").fail("ci", "an object or null")
    links = ci_links(ci, commit=commit)
    findings = tuple(
        _finding(f, fields.at(f"findings[{i}]"), fail_on) for i, f in enumerate(fields.objects(body, "findings"))
    )
    errors = []
    for i, problem in enumerate(fields.objects(body, "errors")):
        where = fields.at(f"errors[{i}]")
        line = problem.get("line")
        prefix = where.text(problem, "file") + (f":{line}" if isinstance(line, int) else "")
        errors.append(f"{prefix}: {where.text(problem, 'message')}")
    entry = DecisionEntry(
        seq=record.seq,
        hash=record.hash,
        time=fields.text(body, "time"),
        recorded_at=fields.opt_text(body, "recorded_at"),
        source=fields.text(body, "source"),
        environment=fields.opt_text(body, "environment"),
        actor=fields.opt_text(body, "actor"),
        commit=commit,
        run_id=fields.at("change").opt_text(change, "run_id"),
        verdict=fields.text(body, "verdict"),
        exit_code=fields.integer(body, "exit_code"),
        fail_on=fail_on.label,
        dry_run=body.get("dry_run") is True,
        resources=len(fields.objects(body, "resources")),
        findings=findings,
        errors=tuple(errors),
        approval=fields.opt_text(body, "approval"),
        commit_url=links.commit_url,
        run_url=links.run_url,
        config_digest=fields.opt_text(body, "config_digest"),
        bundle_digest=fields.opt_text(body, "bundle_digest"),
    )
    policies = tuple(
        _PolicyRef(
            id=fields.at(f"policies[{i}]").text(p, "id"),
            controls=fields.at(f"policies[{i}]").strings(p, "controls"),
            applies_to=frozenset(fields.at(f"policies[{i}]").strings(p, "applies_to")),
        )
        for i, p in enumerate(fields.objects(body, "policies"))
    )
    resources = tuple(
        _resource(r, fields.at(f"resources[{i}]")) for i, r in enumerate(fields.objects(body, "resources"))
    )
    return _Parsed(entry=entry, policies=policies, resources=resources, waivers=tuple(fields.objects(body, "waivers")))


def _resource(obj: Mapping[str, Any], fields: _Fields) -> Resource:
    return Resource(
        api_version=fields.text(obj, "apiVersion"),
        kind=fields.text(obj, "kind"),
        namespace=fields.opt_text(obj, "namespace"),
        name=fields.text(obj, "name"),
    )


def _finding(obj: Mapping[str, Any], fields: _Fields, fail_on: Severity) -> FindingEntry:
    try:
        severity = Severity.parse(fields.text(obj, "severity"))
    except ValueError as exc:
        raise StoreError(f"record {fields.seq}: {fields.where}severity: {exc}") from None
    raw_waiver = obj.get("waiver")
    waiver = None
    if raw_waiver is not None:
        if not isinstance(raw_waiver, dict):
            raise fields.fail("waiver", "an object or null")
        at = fields.at("waiver")
        waiver = WaiverRef(
            id=at.text(raw_waiver, "id"),
            status=at.text(raw_waiver, "status"),
            expires=at.text(raw_waiver, "expires"),
            owner=at.text(raw_waiver, "owner"),
        )
    enforcement = fields.text(obj, "enforcement")
    error = obj.get("error") is True
    waived = waiver is not None and waiver.status == "applied"
    # A finding a baseline accepted (`check --baseline`) did not block either, until its entry expired.
    raw_baseline = obj.get("baseline")
    baselined = isinstance(raw_baseline, dict) and raw_baseline.get("status") == "baselined"
    return FindingEntry(
        policy=fields.text(obj, "policy"),
        title=fields.text(obj, "title"),
        severity=severity.label,
        message=fields.text(obj, "message"),
        resource=_resource(fields.mapping(obj, "resource"), fields.at("resource")),
        enforcement=enforcement,
        # The same rule as Finding.blocks, at the threshold the decision was taken with.
        blocking=enforcement == "deny" and not waived and not baselined and (error or severity >= fail_on),
        error=error,
        controls=fields.strings(obj, "controls"),
        waiver=waiver,
    )


# ---- sections --------------------------------------------------------------------------------


def _env_label(environment: str | None) -> str:
    return environment if environment is not None else NO_ENVIRONMENT


def _totals(decisions: Sequence[DecisionEntry]) -> Totals:
    findings = [f for d in decisions for f in d.findings]
    return Totals(
        decisions=len(decisions),
        passed=sum(1 for d in decisions if d.verdict == "pass"),
        failed=sum(1 for d in decisions if d.verdict != "pass"),
        findings=sum(1 for f in findings if not f.waived),
        blocking=sum(1 for f in findings if f.blocking),
        waived_findings=sum(1 for f in findings if f.waived),
        by_source=dict(sorted(Counter(d.source for d in decisions).items())),
        passed_with_waivers=sum(1 for d in decisions if d.verdict == "pass" and any(f.waived for f in d.findings)),
    )


def _environments(decisions: Sequence[DecisionEntry]) -> tuple[Tally, ...]:
    labels = sorted({_env_label(d.environment) for d in decisions})
    return tuple(_tally(label, [d for d in decisions if _env_label(d.environment) == label]) for label in labels)


def _tally(label: str, decisions: Sequence[DecisionEntry]) -> Tally:
    passed = sum(1 for d in decisions if d.verdict == "pass")
    return Tally(label=label, passed=passed, failed=len(decisions) - passed)


def _daily(
    decisions: Sequence[DecisionEntry], *, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[DayTrend, ...]:
    by_day: dict[str, list[DecisionEntry]] = {}
    for d in decisions:
        by_day.setdefault(d.time[:10], []).append(d)
    days = sorted(by_day)
    if days:
        first = since.astimezone(dt.timezone.utc).date() if since else dt.date.fromisoformat(days[0])
        last = (
            (until.astimezone(dt.timezone.utc) - dt.timedelta(microseconds=1)).date()
            if until
            else dt.date.fromisoformat(days[-1])
        )
        span = (last - first).days + 1
        if 0 < span <= MAX_FILLED_DAYS:
            days = sorted({(first + dt.timedelta(days=n)).isoformat() for n in range(span)} | set(days))
    labels = [t.label for t in _environments(decisions)]
    trend = []
    for day in days:
        todays = by_day.get(day, [])
        tally = _tally(day, todays)
        envs = tuple(_tally(label, [d for d in todays if _env_label(d.environment) == label]) for label in labels)
        trend.append(DayTrend(day=day, passed=tally.passed, failed=tally.failed, environments=envs))
    return tuple(trend)


def _top_policies(decisions: Sequence[DecisionEntry]) -> tuple[PolicyFailures, ...]:
    found: dict[str, list[tuple[int, FindingEntry]]] = {}
    for d in decisions:
        for f in d.findings:
            if not f.waived:
                found.setdefault(f.policy, []).append((d.seq, f))
    rows = [
        PolicyFailures(
            policy=policy,
            title=pairs[-1][1].title,
            severity=pairs[-1][1].severity,
            findings=len(pairs),
            blocking=sum(1 for _, f in pairs if f.blocking),
            decisions=len({seq for seq, _ in pairs}),
        )
        for policy, pairs in found.items()
    ]
    return tuple(sorted(rows, key=lambda r: (-r.blocking, -r.findings, -r.decisions, r.policy)))


@dataclass
class _WaiverFacts:
    id: str
    reason: str = ""
    owner: str = ""
    ticket: str | None = None
    expires: str = ""
    policies: set[str] = dataclasses.field(default_factory=set)
    sources: set[str] = dataclasses.field(default_factory=set)
    findings: int = 0
    findings_expired: int = 0
    decisions: set[int] = dataclasses.field(default_factory=set)


def _waivers(
    parsed: Sequence[_Parsed], config_waivers: Sequence[Waiver], *, environment: str | None, now: dt.datetime
) -> tuple[WaiverEntry, ...]:
    facts: dict[str, _WaiverFacts] = {}
    for p in parsed:
        for i, w in enumerate(p.waivers):
            fields = _Fields(p.entry.seq).at(f"waivers[{i}]")
            fact = facts.setdefault(fields.text(w, "id"), _WaiverFacts(fields.text(w, "id")))
            # Records are read oldest first, so the newest record's wording wins.
            fact.reason = fields.text(w, "reason")
            fact.owner = fields.text(w, "owner")
            fact.ticket = fields.opt_text(w, "ticket")
            fact.expires = fields.text(w, "expires")
            fact.sources.add("records")
        for f in p.entry.findings:
            if f.waiver is None:
                continue
            fact = facts.setdefault(f.waiver.id, _WaiverFacts(f.waiver.id, owner=f.waiver.owner))
            fact.expires = fact.expires or f.waiver.expires
            fact.sources.add("records")
            fact.policies.add(f.policy)
            fact.findings += 1
            fact.findings_expired += f.waiver.status == "expired"
            fact.decisions.add(p.entry.seq)
    for waiver in config_waivers:
        if environment is not None and waiver.environments and environment not in waiver.environments:
            continue
        fact = facts.setdefault(waiver.id, _WaiverFacts(waiver.id))
        # The config is the waiver as it stands today; it overrides what older records say.
        fact.reason, fact.owner, fact.ticket = waiver.reason, waiver.owner, waiver.ticket
        fact.expires = waiver.expires.isoformat()
        fact.policies.add(waiver.policy)
        fact.sources.add("config")
    entries = [_waiver_entry(fact, now) for fact in facts.values()]
    return tuple(sorted(entries, key=lambda e: (WAIVER_STATES.index(e.state), e.expires, e.id)))


def _waiver_entry(fact: _WaiverFacts, now: dt.datetime) -> WaiverEntry:
    try:
        expires = dt.date.fromisoformat(fact.expires)
    except ValueError:
        raise StoreError(f"waiver {fact.id}: expiry {fact.expires!r} is not an ISO date") from None
    today = now.astimezone(dt.timezone.utc).date()
    # Same rule as Waiver.expired: a waiver holds through the last day it names.
    state: WaiverState
    if expires < today:
        state = "expired_referenced" if fact.findings else "expired"
    elif (expires - today).days <= EXPIRING_DAYS:
        state = "expiring"
    else:
        state = "in_force"
    return WaiverEntry(
        id=fact.id,
        state=state,
        policies=tuple(sorted(fact.policies)),
        reason=fact.reason,
        owner=fact.owner,
        ticket=fact.ticket,
        expires=fact.expires,
        days_left=(expires - today).days,
        sources=tuple(sorted(fact.sources)),
        findings=fact.findings,
        findings_expired=fact.findings_expired,
        decisions=len(fact.decisions),
    )


def _outcome(entry: DecisionEntry, findings: Sequence[FindingEntry]) -> Outcome:
    """What one (decision, policy, resource) evaluation with `findings` shows of the policy's controls."""
    if all(f.waived for f in findings):
        return "waived" if findings else "passed"
    # A failed decision stopped its change, this finding with it: the gate worked. A live
    # object a cluster audit finds is already running, so nothing was stopped there.
    return "blocked" if entry.verdict != "pass" and entry.source != "audit" else "failed"


def _controls(parsed: Sequence[_Parsed]) -> tuple[ControlEvidence, ...]:
    # Every control a judging policy maps to is listed, even with no evaluation in the period:
    # a control without evidence is itself something an auditor needs to see.
    mapped: dict[str, set[str]] = {}
    counts: Counter[tuple[str, str, Outcome]] = Counter()  # (control, policy, outcome) -> evaluations
    found: dict[str, list[ControlFinding]] = {}
    decided: dict[str, set[int]] = {}  # control -> decisions that evaluated it
    decided_as: dict[tuple[str, Outcome], set[int]] = {}  # (control, outcome) -> decisions with one such
    for p in parsed:
        controls_of = {policy.id: policy.controls for policy in p.policies}
        by_object: dict[tuple[str, Resource], list[FindingEntry]] = {}
        for f in p.entry.findings:
            by_object.setdefault((f.policy, f.resource), []).append(f)
            controls_of.setdefault(f.policy, f.controls)
        for pid, controls in controls_of.items():
            for control in controls:
                mapped.setdefault(control, set()).add(pid)
        evaluated = {(policy.id, r) for policy in p.policies for r in p.resources if r.kind in policy.applies_to}
        # A finding can name an object outside the policy's kinds (a namespace-wide check
        # reported on a workload); it is still evidence about that policy's controls.
        for pid, resource in sorted(evaluated | set(by_object), key=lambda k: (k[0], k[1].display())):
            findings = by_object.get((pid, resource), [])
            outcome = _outcome(p.entry, findings)
            for control in controls_of.get(pid, ()):
                counts[(control, pid, outcome)] += 1
                decided.setdefault(control, set()).add(p.entry.seq)
                decided_as.setdefault((control, outcome), set()).add(p.entry.seq)
                if outcome == "passed":
                    continue
                shown = findings if outcome == "waived" else [f for f in findings if not f.waived]
                found.setdefault(control, []).append(
                    ControlFinding(
                        seq=p.entry.seq,
                        time=p.entry.time,
                        environment=p.entry.environment,
                        verdict=p.entry.verdict,
                        policy=pid,
                        resource=resource,
                        outcome=outcome,
                        messages=tuple(f.message for f in shown),
                    )
                )
    evidence = []
    for control in sorted(mapped):
        rows = tuple(
            ControlPolicy(
                pid,
                passes=counts[(control, pid, "passed")],
                blocked=counts[(control, pid, "blocked")],
                waived=counts[(control, pid, "waived")],
                fails=counts[(control, pid, "failed")],
            )
            for pid in sorted(mapped[control])
        )
        catalogued = control_title(control)
        evidence.append(
            ControlEvidence(
                control=control,
                framework=catalogued.framework if catalogued else None,
                title=catalogued.title if catalogued else None,
                passes=sum(r.passes for r in rows),
                blocked=sum(r.blocked for r in rows),
                waived=sum(r.waived for r in rows),
                fails=sum(r.fails for r in rows),
                decisions=len(decided.get(control, ())),
                decisions_blocked=len(decided_as.get((control, "blocked"), ())),
                decisions_failed=len(decided_as.get((control, "failed"), ())),
                policies=rows,
                findings=tuple(found.get(control, ())),
            )
        )
    return tuple(evidence)


def _configurations(decisions: Sequence[DecisionEntry]) -> tuple[ConfigurationUse, ...]:
    """Each (bundle, configuration) pair that took decisions in the period, oldest first use first."""
    used: dict[tuple[str | None, str | None], list[DecisionEntry]] = {}
    for d in decisions:
        used.setdefault((d.bundle_digest, d.config_digest), []).append(d)
    rows = [
        ConfigurationUse(
            bundle_digest=bundle,
            config_digest=config,
            decisions=len(entries),
            first=min(d.time for d in entries),
            last=max(d.time for d in entries),
            environments=tuple(sorted({_env_label(d.environment) for d in entries})),
        )
        for (bundle, config), entries in used.items()
    ]
    return tuple(sorted(rows, key=lambda r: (r.first, r.last, r.bundle_digest or "", r.config_digest or "")))
