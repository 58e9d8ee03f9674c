"""The audit report's data model: what one period of decision records shows a compliance officer.

`rollguard.audit.report_build` fills it from a store; every renderer (`rollguard.audit.render`)
reads only this model, so the HTML, Markdown, CSV and JSON reports cannot disagree on a number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rollguard.model import Resource

# 2: per-decision approval, links, digests; control titles and outcomes (passed, blocked,
# waived, failed) instead of pass/fail; every decision of the period, and its configurations.
REPORT_VERSION = 2
NO_ENVIRONMENT = "(none)"

WaiverState = Literal["in_force", "expiring", "expired_referenced", "expired"]
WAIVER_STATES: tuple[WaiverState, ...] = ("expired_referenced", "expiring", "in_force", "expired")  # most urgent first


@dataclass(frozen=True)
class Period:
    """The time window of the report: `since <= time < until`, either end open when None.

    `note` says how an end was chosen when the command line did not give it.
    """

    since: str | None
    until: str | None
    note: str | None = None

    def describe(self) -> str:
        """`2026-11-01 to 2026-11-30` for whole days, else the exact UTC times."""
        start = _describe_moment(self.since, end=False) if self.since else "the first record"
        end = _describe_moment(self.until, end=True) if self.until else "the last record"
        return f"{start} to {end}"


def _describe_moment(value: str, *, end: bool) -> str:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.time() == dt.time.min:
        # `until` is exclusive: a period ending at midnight covers the whole day before.
        return (moment.date() - dt.timedelta(days=1) if end else moment.date()).isoformat()
    return f"{value} (exclusive)" if end else value


@dataclass(frozen=True)
class Tally:
    """Passed and failed decisions of one bucket (a day or an environment)."""

    label: str
    passed: int
    failed: int

    @property
    def total(self) -> int:
        """Every decision of the bucket."""
        return self.passed + self.failed


@dataclass(frozen=True)
class DayTrend:
    """Passed and failed decisions of one UTC day, overall and per environment."""

    day: str
    passed: int
    failed: int
    environments: tuple[Tally, ...]

    @property
    def total(self) -> int:
        """Every decision of the day."""
        return self.passed + self.failed


@dataclass(frozen=True)
class Totals:
    """Headline counts of the period."""

    decisions: int
    passed: int
    failed: int
    findings: int  # not waived
    blocking: int
    waived_findings: int
    by_source: Mapping[str, int]
    passed_with_waivers: int  # passed decisions with a finding an unexpired waiver silenced


@dataclass(frozen=True)
class WaiverRef:
    """The waiver a finding pointed at when it was recorded."""

    id: str
    status: str  # applied | expired
    expires: str
    owner: str


@dataclass(frozen=True)
class FindingEntry:
    """One recorded finding, as the report shows it."""

    policy: str
    title: str
    severity: str
    message: str
    resource: Resource
    enforcement: str
    blocking: bool
    error: bool
    controls: tuple[str, ...]
    waiver: WaiverRef | None

    @property
    def waived(self) -> bool:
        """Whether an unexpired waiver silenced the finding."""
        return self.waiver is not None and self.waiver.status == "applied"

    @property
    def effect(self) -> str:
        """What the finding did to its decision: blocking, waived, warn, dryrun or below threshold."""
        if self.blocking:
            return "blocking"
        if self.waived:
            return "waived"
        return self.enforcement if self.enforcement != "deny" else "below threshold"


@dataclass(frozen=True)
class DecisionEntry:
    """One recorded decision of the period with its findings and its place in the chain."""

    seq: int
    hash: str
    time: str  # the decision's as-of time (`--now` when given)
    recorded_at: str | None  # when the store wrote it; None in records older than the field
    source: str
    environment: str | None
    actor: str | None
    commit: str | None
    run_id: str | None
    verdict: str
    exit_code: int
    fail_on: str
    dry_run: bool
    resources: int
    findings: tuple[FindingEntry, ...]
    errors: tuple[str, ...]
    approval: str | None  # the change-approval reference in force (`check --approval`, an annotation)
    commit_url: str | None  # built from the CI run the record names (`audit.record.ci_links`)
    run_url: str | None
    config_digest: str | None  # None in records older than the field, and from the webhook
    bundle_digest: str | None

    @property
    def waived(self) -> bool:
        """Whether any finding of the decision points at a waiver (in force or expired)."""
        return any(f.waiver is not None for f in self.findings)

    @property
    def listed(self) -> bool:
        """Whether the decision belongs in "Failed and waived decisions"."""
        return self.verdict != "pass" or self.waived


@dataclass(frozen=True)
class PolicyFailures:
    """How often one policy stood in the way during the period."""

    policy: str
    title: str
    severity: str
    findings: int  # not waived
    blocking: int
    decisions: int  # decisions with at least one unwaived finding of this policy


@dataclass(frozen=True)
class WaiverEntry:
    """One waiver, from the records and/or the config, with how the period used it."""

    id: str
    state: WaiverState
    policies: tuple[str, ...]
    reason: str
    owner: str
    ticket: str | None
    expires: str
    days_left: int  # negative once expired
    sources: tuple[str, ...]  # config and/or records
    findings: int  # findings of the period that point at it
    findings_expired: int  # ... of which it no longer covered when they were recorded
    decisions: int


# What one (decision, policy, resource) evaluation shows of a control:
# passed   the policy judged the object and found nothing;
# blocked  it found something and the decision failed, so the change did not go through: the
#          gate worked, the control operated;
# waived   everything it found was silenced by an unexpired waiver (an owned, time-boxed exception);
# failed   it found something and the change went through anyway (the decision passed: a warning,
#          dryrun enforcement, a finding below the threshold), or the object was already running
#          (a cluster audit).
Outcome = Literal["passed", "blocked", "waived", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "blocked", "waived", "failed")


@dataclass(frozen=True)
class ControlPolicy:
    """One policy's evidence for a control: its evaluations by outcome."""

    policy: str
    passes: int
    blocked: int
    waived: int
    fails: int


@dataclass(frozen=True)
class ControlFinding:
    """A (decision, policy, resource) that found something against a control, with what it found."""

    seq: int
    time: str
    environment: str | None
    verdict: str
    policy: str
    resource: Resource
    outcome: Outcome  # blocked, waived or failed
    messages: tuple[str, ...]


@dataclass(frozen=True)
class ControlEvidence:
    """The evidence for one control id over the period, by outcome."""

    control: str
    framework: str | None  # from the control catalogue; None for an id it does not know
    title: str | None
    passes: int
    blocked: int
    waived: int
    fails: int
    decisions: int  # decisions that evaluated the control at least once
    decisions_blocked: int  # ... in which it blocked the change
    decisions_failed: int  # ... in which a deviation went through
    policies: tuple[ControlPolicy, ...]
    findings: tuple[ControlFinding, ...]  # every evaluation that was not a pass, in chain order

    @property
    def result(self) -> str:
        """`exceptions` when a deviation went through, `operating` when the control passed or blocked
        changes, `waived` when every finding was waived, else `no evidence`."""
        if self.fails:
            return "exceptions"
        if self.passes or self.blocked:
            return "operating"
        return "waived" if self.waived else "no evidence"


@dataclass(frozen=True)
class ConfigurationUse:
    """One policy bundle and configuration that judged decisions of the period, and when."""

    bundle_digest: str | None
    config_digest: str | None
    decisions: int
    first: str  # the first and last decision's time
    last: str
    environments: tuple[str, ...]


@dataclass(frozen=True)
class ChainResult:
    """The verification of the whole store's hash chain when the report was made."""

    ok: bool
    records: int
    head_seq: int | None  # None when the store's chain head is missing
    head_hash: str | None
    broken_at: int | None
    problem: str | None


@dataclass(frozen=True)
class Report:
    """Everything an audit report shows; renderers only format it."""

    generated_at: str
    rollguard_version: str
    store: str  # password redacted
    period: Period
    environment: str | None
    config: str | None
    totals: Totals
    daily: tuple[DayTrend, ...]
    environments: tuple[Tally, ...]
    top_policies: tuple[PolicyFailures, ...]
    decisions: tuple[DecisionEntry, ...]
    waivers: tuple[WaiverEntry, ...]
    controls: tuple[ControlEvidence, ...]
    chain: ChainResult
    configurations: tuple[ConfigurationUse, ...]

    @property
    def listed_decisions(self) -> tuple[DecisionEntry, ...]:
        """Failed decisions and decisions with waived findings, in chain order."""
        return tuple(d for d in self.decisions if d.listed)

    def waivers_in(self, state: WaiverState) -> tuple[WaiverEntry, ...]:
        """The waivers in one state, soonest expiry first."""
        return tuple(w for w in self.waivers if w.state == state)

    def to_json(self) -> dict[str, Any]:
        """The versioned `--format json` document; each control carries its `result` too."""
        document = {"version": REPORT_VERSION, **dataclasses.asdict(self)}
        for shown, control in zip(document["controls"], self.controls, strict=True):
            shown["result"] = control.result
        return document
