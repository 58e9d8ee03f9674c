"""Words shared by the report formats, so the HTML and Markdown reports name things alike."""

from __future__ import annotations

from rollguard.audit.report import NO_ENVIRONMENT, ChainResult, ControlEvidence, Outcome, Period, WaiverState

SECTIONS = {
    "title": "rollguard audit report",
    "summary": "Summary",
    "trend": "Daily trend",
    "policies": "Top failing policies",
    "decisions": "Decisions",
    "failed": "Failed and waived decisions",
    "waivers": "Waivers",
    "controls": "Controls",
    "chain": "Chain verification",
}

WAIVER_HEADINGS: dict[WaiverState, str] = {
    "expired_referenced": "Expired but still referenced",
    "expiring": "Expiring within 30 days",
    "in_force": "In force",
    "expired": "Expired, no longer referenced",
}


# Section keys in the order every format shows them.
SECTION_ORDER = ("summary", "trend", "policies", "decisions", "failed", "waivers", "controls", "chain")

OUTCOME_HEADINGS: dict[Outcome, str] = {
    "passed": "passed",
    "blocked": "blocked (operating)",
    "waived": "waived",
    "failed": "failed (not blocked)",
}

CONTROL_RESULTS = {
    "operating": "OPERATING",
    "exceptions": "EXCEPTIONS",
    "waived": "WAIVED",
    "no evidence": "NO EVIDENCE",
}

CONTROLS_INTRO = (
    "Each (decision, policy, resource) a policy judged is evidence for the policy's controls: passed (nothing "
    "found), blocked (found something and the decision failed, so the change did not go through: the gate "
    "worked), waived (everything found was silenced by an unexpired waiver) or failed (found something and the "
    "change went through anyway, or the object was found running by a cluster audit). A control is operating "
    "when it passed or blocked changes and nothing failed."
)


def period_label(period: Period) -> str:
    """The period, and how it was chosen when the command line did not give it."""
    return f"{period.describe()} ({period.note})" if period.note else period.describe()


def control_label(control: ControlEvidence) -> str:
    """`SOC2:CC8.1 Change management`, or the bare id when the catalogue does not know it."""
    return f"{control.control} {control.title}" if control.title else control.control


def short_digest(digest: str | None) -> str:
    """`sha256:` and the first 12 hex digits, or `—` for a record without one."""
    if not digest:
        return "—"
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}" if value else digest[:19]


def env_label(environment: str | None) -> str:
    """The environment's name, or `(none)` for decisions taken without one."""
    return environment if environment is not None else NO_ENVIRONMENT


def short_hash(digest: str) -> str:
    """The first 16 hex digits: enough to find a record, short enough for a table."""
    return digest[:16]


def chain_summary(chain: ChainResult) -> str:
    """One sentence on the hash chain, as `rollguard audit verify` would put it."""
    if chain.ok and chain.head_hash is not None:
        return f"Chain intact: {chain.records} records, head {chain.head_seq} ({short_hash(chain.head_hash)})."
    where = f" at record {chain.broken_at}" if chain.broken_at is not None else ""
    return f"Chain BROKEN{where}: {chain.problem}. Records from that point on cannot be trusted as written."


def head_label(chain: ChainResult) -> str:
    """`record 6, hash …`, or that the store has no chain head."""
    if chain.head_hash is None:
        return "missing"
    return f"record {chain.head_seq}, hash {chain.head_hash}"
