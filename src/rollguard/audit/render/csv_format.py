"""The audit report as CSV: one row per (decision, finding), for spreadsheets and GRC tools.

A decision without findings still gets one row, with the finding columns empty, so every
decision of the period appears. docs/compliance.md and docs/audit-evidence.md document each column.
"""

from __future__ import annotations

import csv
import io

from rollguard.audit.report import DecisionEntry, FindingEntry, Report

COLUMNS = (
    "record_seq",
    "record_hash",
    "time",
    "recorded_at",
    "source",
    "environment",
    "actor",
    "commit",
    "run_id",
    "verdict",
    "exit_code",
    "fail_on",
    "dry_run",
    "input_errors",
    "policy",
    "title",
    "severity",
    "enforcement",
    "blocking",
    "policy_error",
    "resource_api_version",
    "resource_kind",
    "resource_namespace",
    "resource_name",
    "message",
    "controls",
    "waiver_id",
    "waiver_status",
    "waiver_expires",
    "waiver_owner",
    # Added after the first release of the format: at the end, so columns keep their positions.
    "approval",
    "commit_url",
    "run_url",
    "config_digest",
    "bundle_digest",
)

# Spreadsheets run a cell that starts with one of these as a formula; resource names and
# messages come from manifests, so such cells are prefixed with a quote (OWASP's advice).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render(report: Report) -> str:
    """Render every decision of `report` as CSV with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for decision in report.decisions:
        head = _decision_cells(decision)
        tail = _evidence_cells(decision)
        if not decision.findings:
            writer.writerow([*head, *[""] * (len(COLUMNS) - len(head) - len(tail)), *tail])
        for finding in decision.findings:
            writer.writerow([*head, *_finding_cells(finding), *tail])
    return out.getvalue()


def _decision_cells(d: DecisionEntry) -> list[str]:
    return [
        str(d.seq),
        d.hash,
        d.time,
        d.recorded_at or "",
        _text(d.source),
        _text(d.environment),
        _text(d.actor),
        _text(d.commit),
        _text(d.run_id),
        d.verdict,
        str(d.exit_code),
        d.fail_on,
        _flag(d.dry_run),
        str(len(d.errors)),
    ]


def _evidence_cells(d: DecisionEntry) -> list[str]:
    return [_text(d.approval), d.commit_url or "", d.run_url or "", _text(d.config_digest), _text(d.bundle_digest)]


def _finding_cells(f: FindingEntry) -> list[str]:
    waiver = f.waiver
    return [
        _text(f.policy),
        _text(f.title),
        f.severity,
        f.enforcement,
        _flag(f.blocking),
        _flag(f.error),
        _text(f.resource.api_version),
        _text(f.resource.kind),
        _text(f.resource.namespace),
        _text(f.resource.name),
        _text(f.message),
        " ".join(f.controls),
        _text(waiver.id) if waiver else "",
        waiver.status if waiver else "",
        waiver.expires if waiver else "",
        _text(waiver.owner) if waiver else "",
    ]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value
