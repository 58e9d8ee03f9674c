"""What someone with write access to a decision store's database can do behind rollguard's back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from rollguard.audit.record import GENESIS, canonical_json, chain_hash


def raw(url: str, *statements: str) -> None:
    """Run SQL behind rollguard's back, as someone with write access to the database could."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for s in statements:
            conn.execute(s)
        conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def drop_guards(url: str) -> str:
    if url.startswith("sqlite"):
        return "DROP TRIGGER rollguard_decisions_no_update; DROP TRIGGER rollguard_decisions_no_delete"
    return "DROP TRIGGER rollguard_decisions_append_only ON rollguard_decisions"


def tamper(url: str, *statements: str) -> None:
    raw(url, *drop_guards(url).split("; "), *statements)


def sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement behind rollguard's back (`?` placeholders); the rows it returns."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            return conn.execute(statement, params).fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def log_tables(url: str) -> set[str]:
    """Which of rollguard's tables the store's database holds."""
    if url.startswith("sqlite"):
        rows = sql(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = sql(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    return {name for (name,) in rows if name.startswith("rollguard_")}


def rewrite(url: str, change: Callable[[int, dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite records as someone with write access could, then recompute every hash and move
    the head, so that the chain verifies again (only an anchor kept elsewhere can tell)."""
    raw(url, *drop_guards(url).split("; "))
    rows = sql(url, "SELECT seq, body FROM rollguard_decisions ORDER BY seq")
    prev = GENESIS
    for seq, text in rows:
        content = change(seq, json.loads(text))
        digest = chain_hash(seq, prev, content)
        sql(
            url,
            "UPDATE rollguard_decisions SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (canonical_json(content), prev, digest, seq),
        )
        prev = digest
    sql(url, "UPDATE rollguard_chain_head SET seq = ?, hash = ? WHERE id = 1", (len(rows), prev))
