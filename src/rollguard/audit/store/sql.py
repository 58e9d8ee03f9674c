"""The SQL both store backends run and the mapping of its rows; only the parameter style differs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DECISIONS_TABLE = "rollguard_decisions"
HEAD_TABLE = "rollguard_chain_head"
LOG_TABLES = frozenset({DECISIONS_TABLE, HEAD_TABLE})

# Columns kept beside the JSON body so reports can select by time and environment; `verify`
# checks they agree with the body, so editing them to hide a record is caught too.
INDEXED = ("time", "source", "environment", "verdict")

# The chain head is the single row of HEAD_TABLE (id 1); these take no parameters.
HEAD_QUERY = f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1"
LAST_RECORDED_AT_QUERY = f"SELECT recorded_at FROM {HEAD_TABLE} WHERE id = 1"


@dataclass(frozen=True)
class Row:
    """A record as read back from the database, before it is checked."""

    seq: int
    prev_hash: str
    hash: str
    body_text: str
    columns: Mapping[str, Any]


def rows_query(placeholder: str, *, since: str | None, until: str | None) -> tuple[str, list[str]]:
    """The SELECT of record rows in chain order, in a backend's parameter style (`?` or `%s`)."""
    query = f"SELECT seq, prev_hash, hash, body, time, source, environment, verdict FROM {DECISIONS_TABLE}"
    clauses, params = [], []
    if since is not None:
        clauses.append(f"time >= {placeholder}")
        params.append(since)
    if until is not None:
        clauses.append(f"time < {placeholder}")
        params.append(until)
    if clauses:
        query += " WHERE " + " AND ".join(clauses)
    return query + " ORDER BY seq", params


def row_from(values: Sequence[Any]) -> Row:
    """A Row from the columns `rows_query` selects."""
    seq, prev, hash_, body, time, source, env, verdict = values
    return Row(
        int(seq),
        str(prev),
        str(hash_),
        str(body),
        {"time": time, "source": source, "environment": env, "verdict": verdict},
    )


def insert_statement(placeholder: str) -> str:
    """The INSERT of one record row, in a backend's parameter style."""
    marks = ", ".join([placeholder] * 8)
    return (
        f"INSERT INTO {DECISIONS_TABLE} (seq, time, source, environment, verdict, prev_hash, hash, body)"
        f" VALUES ({marks})"
    )


def insert_values(seq: int, prev_hash: str, hash_: str, body_text: str, columns: Mapping[str, Any]) -> tuple[Any, ...]:
    """The values for `insert_statement`, in its column order."""
    return (
        seq,
        columns["time"],
        columns["source"],
        columns["environment"],
        columns["verdict"],
        prev_hash,
        hash_,
        body_text,
    )


def set_head_statement(placeholder: str) -> str:
    """The UPDATE that moves the chain head, taking (seq, hash, recorded_at), in a backend's parameter style."""
    return (
        f"UPDATE {HEAD_TABLE} SET seq = {placeholder}, hash = {placeholder}, recorded_at = {placeholder} WHERE id = 1"
    )
