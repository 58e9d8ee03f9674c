"""The audit report as JSON: the data model itself, versioned (`{"version": 1, ...}`)."""

from __future__ import annotations

import json

from rollguard.audit.report import Report


def render(report: Report) -> str:
    """Render `report` as an indented JSON document ending with a newline."""
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
