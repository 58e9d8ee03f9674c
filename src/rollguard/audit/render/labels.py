"""Words shared by the report formats, so the HTML and Markdown reports name things alike."""

from __future__ import annotations

from rollguard.audit.report import NO_ENVIRONMENT, ChainResult, WaiverState

SECTIONS = {
    "title": "rollguard audit report",
    "summary": "Summary",
    "trend": "Daily trend",
    "policies": "Top failing policies",
    "decisions": "Failed and waived decisions",
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
