"""Squawk's own rule tests through the migration pack: each mapped policy fires exactly when squawk flags.

The cases are the SQL of squawk's unit tests with their expected outcome (labels.json in the
shared corpus). Squawk's settings become rollguard's: `pg_version` the policies' parameter of
the same name, `assume_in_transaction` the `-- rollguard: transaction=true` directive (unless the
file turns it off with squawk's own comment), and its default, no transaction, `transaction=false`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rollguard.model import ChangeSet
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config

from .conftest import ENGINES, make_gate

migration_loader = pytest.importorskip(
    "rollguard.inputs.migration", reason="the migration loader (rollguard.inputs.migration) is not available"
)

SUITE = Path("postgres-migrations") / "squawk-rule-tests"

# Squawk rule → the rollguard policy that judges the same hazard. Squawk rules about naming
# and type preferences (prefer_text_field, identifier_too_long, ...), domains, transaction
# nesting and enum value ordering have no rollguard counterpart and are not compared.
SQUAWK_TO_ROLLGUARD = {
    "adding_field_with_default": "migration.volatile_default",
    "adding_foreign_key_constraint": "migration.constraint_not_valid",
    "adding_not_null_field": "migration.set_not_null",
    "adding_primary_key_constraint": "migration.unique_constraint",
    "adding_required_field": "migration.required_column",
    "ban_concurrent_index_creation_in_transaction": "migration.index_concurrently",
    "ban_drop_column": "migration.drop_column",
    "ban_drop_database": "migration.drop_table",
    "ban_drop_table": "migration.drop_table",
    "ban_truncate_cascade": "migration.drop_table",
    "changing_column_type": "migration.column_type",
    "constraint_missing_not_valid": "migration.constraint_not_valid",
    "disallow_unique_constraint": "migration.unique_constraint",
    "renaming_column": "migration.rename",
    "renaming_table": "migration.rename",
    "require_concurrent_index_creation": "migration.index_concurrently",
    "require_concurrent_index_deletion": "migration.index_concurrently",
    "require_timeout_settings": "migration.lock_timeout",
}

# Cases rollguard judges differently on purpose (file → why); docs/migrations.md lists them too.
DELIBERATE_DIFFERENCES = {
    "adding_field_with_default/docs_example_error_on_pg_11.sql": (
        "PostgreSQL 11 adds a column with a constant default without a rewrite; squawk flags it on 11 too"
    ),
    "adding_field_with_default/default_random_with_args_err.sql": (
        "now(123) is no valid call; the loader classifies now() as stable whatever its arguments"
    ),
    "adding_foreign_key_constraint/add_foreign_key_constraint_not_valid_validate.sql": (
        "VALIDATE in the same transaction as its ADD keeps the ADD's lock; squawk reports that under "
        "constraint-missing-not-valid, rollguard under the same policy as the missing NOT VALID"
    ),
    "ban_concurrent_index_creation_in_transaction/assuming_in_transaction_ok.sql": (
        "squawk exempts a file whose only statement is CREATE INDEX CONCURRENTLY even when told every "
        "file runs in a transaction; rollguard judges the transaction the file is said to run in"
    ),
    "require_timeout_settings/err_missing_statement_timeout.sql": (
        "rollguard requires statement_timeout only with require_statement_timeout; lock_timeout is what "
        "keeps a waiting statement from queueing traffic"
    ),
    "require_timeout_settings/ok_only_statement_timeout_rule_enabled.sql": (
        "squawk's test turns off the lock_timeout half of its rule, a setting labels.json does not record"
    ),
    "require_timeout_settings/err_other_ddl_operations.sql": (
        "CREATE TYPE locks no existing table, so there is nothing for a lock_timeout to protect"
    ),
}

_PG_VERSION = re.compile(r'pg_version:\s*"(\d+)"')
_DISABLE_ASSUME = "squawk-disable-assume-in-transaction"


def mapped_cases(corpus: Path) -> list[dict[str, Any]]:
    labels = json.loads((corpus / SUITE / "labels.json").read_text(encoding="utf-8"))
    return [c for c in labels["cases"] if c["rule"] in SQUAWK_TO_ROLLGUARD]


def _source(case: Mapping[str, Any], text: str) -> str:
    """The case's SQL with squawk's transaction setting as a rollguard directive."""
    assume = "assume_in_transaction: true" in (case["settings"] or "") and _DISABLE_ASSUME not in text
    return f"-- rollguard: transaction={'true' if assume else 'false'}\n{text}"


def _pg_version(case: Mapping[str, Any]) -> int | None:
    m = _PG_VERSION.search(case["settings"] or "")
    return int(m.group(1)) if m else None


def judge_cases(bundle: PolicyBundle, engine: str, corpus: Path) -> dict[str, bool]:
    """Case file → whether the mapped policy fired, judged through the real gate.

    Each case is loaded on its own (so no table of one counts as created by another) and the
    cases sharing a PostgreSQL version are judged as one change set: every file is the first
    of its own change (order 0), so none reads another's statements, and the engine loads
    its data once per version instead of once per case.
    """
    by_version: dict[int | None, list[dict[str, Any]]] = {}
    for case in mapped_cases(corpus):
        by_version.setdefault(_pg_version(case), []).append(case)
    fired: dict[str, bool] = {}
    for version, cases in by_version.items():
        parameters = {
            p.id: {"pg_version": version}
            for p in bundle.policies
            if version is not None and "pg_version" in p.parameters_schema.get("properties", {})
        }
        gate = make_gate(bundle, engine, Config(parameters=parameters).resolve(None))
        artifacts = []
        for case in cases:
            text = (corpus / SUITE / case["file"]).read_text(encoding="utf-8")
            found, problems = migration_loader.load_migrations([(case["file"], _source(case, text))])
            assert not problems, [p.display() for p in problems]
            assert [a.document["order"] for a in found] == [0]
            artifacts.extend(found)
        decision = gate.judge(ChangeSet(artifacts=tuple(artifacts)))
        assert not decision.errors, [f.message for f in decision.errors]
        for case in cases:
            policy = SQUAWK_TO_ROLLGUARD[case["rule"]]
            fired[case["file"]] = any(f.policy == policy and f.file == case["file"] for f in decision.findings)
    return fired


@pytest.mark.parametrize("engine", ENGINES)
def test_pack_agrees_with_squawk_except_deliberate_differences(engine: str, bundle: PolicyBundle, corpus: Path) -> None:
    cases = mapped_cases(corpus)
    fired = judge_cases(bundle, engine, corpus)
    differ = {c["file"] for c in cases if fired[c["file"]] != (c["expect"] == "violation")}
    unexplained = sorted(differ - DELIBERATE_DIFFERENCES.keys())
    stale = sorted(DELIBERATE_DIFFERENCES.keys() - differ)
    by_file = {c["file"]: c for c in cases}
    assert not unexplained, "\n".join(
        f"{f}: squawk says {by_file[f]['expect']}, {SQUAWK_TO_ROLLGUARD[by_file[f]['rule']]} "
        f"{'fired' if fired[f] else 'did not fire'}"
        for f in unexplained
    )
    assert not stale, f"listed as deliberate differences but rollguard now agrees with squawk: {stale}"
    assert len(cases) - len(differ) >= 100  # 102 of 109 mapped cases at the time of writing


def test_every_mapped_rule_has_cases_and_every_policy_exists(bundle: PolicyBundle, corpus: Path) -> None:
    rules = {c["rule"] for c in mapped_cases(corpus)}
    assert rules == SQUAWK_TO_ROLLGUARD.keys()
    ids = {p.id for p in bundle.policies}
    assert set(SQUAWK_TO_ROLLGUARD.values()) <= ids
    assert set(DELIBERATE_DIFFERENCES) <= {c["file"] for c in mapped_cases(corpus)}
