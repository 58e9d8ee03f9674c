"""JSON inputs (Trivy reports, Terraform plans): parsed, or a problem saying where and what to do."""

from __future__ import annotations

import json
from typing import Any

from rollguard.model import InputProblem


def parse_json(name: str, text: str, *, what: str, advice: str) -> tuple[Any, InputProblem | None]:
    """The value of `text` (a leading byte-order mark ignored), or the problem naming its line.

    `what` names the document (`a Trivy report`); `advice` says how to produce a good one.
    """
    try:
        return json.loads(text.lstrip("\ufeff")), None
    except json.JSONDecodeError as exc:
        message = f"invalid JSON in {what}: {exc.msg} (column {exc.colno}); the file may be truncated — {advice}"
        return None, InputProblem(name, exc.lineno, message)
