"""Statements sqlglot keeps as a Command (or cannot parse): their facts from careful regexes."""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlglot
from sqlglot import exp

from rollguard.inputs.migration.alter import _alter_action
from rollguard.inputs.migration.facts import _NAME, _constraint, _Dialect, _facts, _norm_name


class _SqlglotFallbackFilter(logging.Filter):
    """Drop sqlglot's warning for every statement it keeps as a Command: rollguard classifies those itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_SqlglotFallbackFilter())


_REINDEX = re.compile(
    rf"(?i)^REINDEX\s*(?:\((?P<opts>[^)]*)\)\s*)?(?P<what>INDEX|TABLE|SCHEMA|DATABASE|SYSTEM)\s+(?P<conc>CONCURRENTLY\s+)?(?P<name>{_NAME})?"
)
_ADD_VALUE = re.compile(rf"(?i)^ALTER\s+TYPE\s+(?P<name>{_NAME})\s+ADD\s+VALUE\b(?P<ine>\s+IF\s+NOT\s+EXISTS)?")
_CREATE_FUNCTION = re.compile(rf"(?i)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\s+(?P<name>{_NAME})")
_CREATE_EXTENSION = re.compile(rf"(?i)^CREATE\s+EXTENSION\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})")
_CREATE_INDEX = re.compile(
    rf"(?i)^CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?P<conc>CONCURRENTLY\s+)?(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?:(?P<name>{_NAME})\s+)?"
    rf"ON\s+(?:ONLY\s+)?(?P<table>{_NAME})(?:\s+USING\s+(?P<method>\w+))?\s*\((?P<cols>.*)\)"
)
_CREATE_TYPE = re.compile(rf"(?i)^CREATE\s+TYPE\s+(?P<name>{_NAME})")
_CREATE_VIEW = re.compile(
    rf"(?i)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+|MATERIALIZED\s+|RECURSIVE\s+)*VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})"
)
_CREATE_TABLE = re.compile(
    rf"(?i)^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+)?TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})"
)
_ALTER_TABLE = re.compile(
    rf"(?i)^ALTER\s+TABLE\s+(?P<ie>IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<name>{_NAME})\s*\*?\s+(?P<actions>.+)$"
)
_VALIDATE = re.compile(rf"(?i)^VALIDATE\s+CONSTRAINT\s+(?P<name>{_NAME})\s*$")
_USING_INDEX = re.compile(
    rf"(?i)^ADD\s+(?:CONSTRAINT\s+(?P<name>{_NAME})\s+)?(?P<kind>UNIQUE|PRIMARY\s+KEY)\s+USING\s+INDEX\s+(?P<index>{_NAME})"
)
_SET = re.compile(
    rf"(?i)^SET\s+(?:(?P<scope>SESSION|LOCAL)\s+)?(?P<name>{_NAME})\s*(?:=|\s+TO\s+)\s*(?P<value>.+?)\s*$"
)
_SET_CONSTRAINTS = re.compile(r"(?i)^SET\s+CONSTRAINTS\s+(?P<value>.+)$")
_RESET = re.compile(rf"(?i)^RESET\s+(?P<name>{_NAME})\s*$")
_RENAME_TABLE = re.compile(rf"(?i)^RENAME\s+TABLE\s+(?P<name>{_NAME})\s+TO\s+(?P<to>{_NAME})")
_DDL_IN_BODY = re.compile(
    r"(?i)\b(?:ALTER|CREATE|DROP|TRUNCATE|RENAME)\s+(?:TABLE|INDEX|UNIQUE|COLUMN|SCHEMA|TYPE|VIEW|SEQUENCE)\b"
)
# Triggers take a SHARE ROW EXCLUSIVE lock on their table; sequences are objects of their own.
_CREATE_TRIGGER = re.compile(
    rf"(?is)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+(?P<name>{_NAME}).*?\bON\s+(?:ONLY\s+)?(?P<table>{_NAME})"
)
_DROP_TRIGGER = re.compile(
    rf"(?is)^DROP\s+TRIGGER\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>{_NAME})\s+ON\s+(?:ONLY\s+)?(?P<table>{_NAME})"
)
_SEQUENCE = re.compile(
    rf"(?i)^(?P<verb>CREATE|ALTER)\s+(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?SEQUENCE\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(?P<name>{_NAME})"
)

_HEADS = (
    (re.compile(r"(?i)^COMMENT\s+ON\b"), "comment"),
    (re.compile(r"(?i)^GRANT\b"), "grant"),
    (re.compile(r"(?i)^REVOKE\b"), "revoke"),
    (re.compile(r"(?i)^(?:WITH\b.*?\b)?INSERT\s+INTO\b"), "insert"),
    (re.compile(r"(?i)^SELECT\b"), "select"),
)


def _from_command(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    """Facts of a statement sqlglot could not give a structure to, from careful regexes; None when unrecognised."""
    for classify in (_command_simple, _command_index, _command_alter_table, _command_set):
        found = classify(code, dialect)
        if found is not None:
            for facts in found:
                facts["parser"] = "command" if facts["operation"] != "unknown" else facts["parser"]
            return found
    return None


def _command_simple(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    if re.match(r"(?i)^DO\b", code):
        return [_facts("do_block", is_ddl=bool(_DDL_IN_BODY.search(code)))]
    if m := _REINDEX.match(code):
        concurrent = bool(m.group("conc")) or _option_on(m.group("opts") or "", "CONCURRENTLY")
        name = _norm_name(m.group("name")) if m.group("name") else None
        table = name if m.group("what").upper() == "TABLE" else None
        return [_facts("reindex", table=table, object=name, concurrently=concurrent)]
    if m := _ADD_VALUE.match(code):
        return [_facts("alter_type_add_value", object=_norm_name(m.group("name")), if_exists=bool(m.group("ine")))]
    if m := _CREATE_FUNCTION.match(code):
        return [_facts("create_function", object=_norm_name(m.group("name")))]
    if m := _CREATE_EXTENSION.match(code):
        return [_facts("create_extension", object=_norm_name(m.group("name")), if_exists=bool(m.group("ine")))]
    if m := _CREATE_TYPE.match(code):
        return [_facts("create_type", object=_norm_name(m.group("name")))]
    if m := _CREATE_VIEW.match(code):
        return [_facts("create_view", object=_norm_name(m.group("name")))]
    if m := _CREATE_TRIGGER.match(code):
        return [_facts("create_trigger", object=_norm_name(m.group("name")), table=_norm_name(m.group("table")))]
    if m := _DROP_TRIGGER.match(code):
        return [
            _facts(
                "drop_trigger",
                object=_norm_name(m.group("name")),
                table=_norm_name(m.group("table")),
                if_exists=bool(m.group("ie")),
            )
        ]
    if m := _SEQUENCE.match(code):
        operation = "create_sequence" if m.group("verb").upper() == "CREATE" else "alter_sequence"
        return [_facts(operation, object=_norm_name(m.group("name")))]
    if m := _CREATE_TABLE.match(code):
        return [_facts("create_table", table=_norm_name(m.group("name")), if_exists=bool(m.group("ine")))]
    if m := _RENAME_TABLE.match(code):
        return [_facts("rename_table", table=_norm_name(m.group("name")), new_name=_norm_name(m.group("to")))]
    for pattern, operation in _HEADS:
        if pattern.match(code):
            return [_facts(operation)]
    return None


def _option_on(options: str, name: str) -> bool:
    """Whether a PostgreSQL option list like `(CONCURRENTLY false, VERBOSE)` switches `name` on."""
    m = re.search(rf"(?i)\b{name}\b\s*(?P<value>\w+)?", options)
    return m is not None and (m.group("value") or "true").lower() not in ("false", "off", "0")


def _command_index(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    m = _CREATE_INDEX.match(code)
    if not m:
        return None
    name = _norm_name(m.group("name")) if m.group("name") else None
    columns = [
        _norm_name(c) if re.fullmatch(_NAME, c.strip()) else c.strip() for c in _top_level_split(m.group("cols"))
    ]
    return [
        _facts(
            "create_index",
            table=_norm_name(m.group("table")),
            object=name,
            columns=[c for c in columns if c],
            index_def={
                "name": name,
                "unique": bool(m.group("unique")),
                "method": (m.group("method") or "").lower() or None,
            },
            concurrently=bool(m.group("conc")),
            if_exists=bool(m.group("ine")),
        )
    ]


def _command_alter_table(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    m = _ALTER_TABLE.match(code)
    if not m:
        return None
    table = _norm_name(m.group("name"))
    results = []
    for action in _top_level_split(m.group("actions")):
        facts = _alter_table_action(m.group("name"), action.strip(), dialect)
        facts["table"] = table
        facts["if_exists"] = facts["if_exists"] or bool(m.group("ie"))
        results.append(facts)
    return results


def _alter_table_action(raw_table: str, action: str, dialect: _Dialect) -> dict[str, Any]:
    """One action of an ALTER TABLE that sqlglot kept as a Command: regexes first, then sqlglot on the action alone."""
    if m := _VALIDATE.match(action):
        return _facts(
            "validate_constraint", parser="command", constraint=_constraint(None, _norm_name(m.group("name")))
        )
    if m := _USING_INDEX.match(action):
        kind = "unique" if m.group("kind").upper() == "UNIQUE" else "primary_key"
        name = _norm_name(m.group("name")) if m.group("name") else None
        constraint = _constraint(kind, name, using_index=_norm_name(m.group("index")))
        return _facts("add_constraint", parser="command", constraint=constraint)
    try:
        node = sqlglot.parse_one(f"ALTER TABLE {raw_table} {action}", read=dialect.read)
    except Exception:  # noqa: BLE001 - sqlglot raises assorted errors on what it cannot read; the action stays unknown
        return _facts("unknown", parser="unknown", statement_kind=_action_kind(action))
    if isinstance(node, exp.Alter) and len(node.args.get("actions") or []) == 1:
        facts = _alter_action(node.args["actions"][0], dialect, not_valid=bool(node.args.get("not_valid")), code=action)
        facts["parser"] = "command" if facts["operation"] != "unknown" else "unknown"
        if facts["operation"] == "unknown":
            facts["statement_kind"] = _action_kind(action)
        return facts
    return _facts("unknown", parser="unknown", statement_kind=_action_kind(action))


def _action_kind(action: str) -> str:
    words = re.findall(r"[A-Za-z]+", action)[:3]
    return "alter table " + " ".join(w.lower() for w in words)


def _command_set(code: str, dialect: _Dialect) -> list[dict[str, Any]] | None:
    if m := _SET_CONSTRAINTS.match(code):  # Django emits it after adding a deferred foreign key
        return [_facts("set", setting={"name": "constraints", "value": m.group("value"), "local": True})]
    if m := _RESET.match(code):
        return [_facts("set", setting={"name": _norm_name(m.group("name")), "value": None, "local": False})]
    if m := _SET.match(code):
        value = m.group("value")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        local = (m.group("scope") or "").upper() == "LOCAL"
        return [_facts("set", setting={"name": _norm_name(m.group("name")), "value": value, "local": local})]
    return None


def _top_level_split(text: str) -> list[str]:
    """Split at commas outside parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for c in text:
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(c)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]
