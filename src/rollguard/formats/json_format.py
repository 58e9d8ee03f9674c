"""The machine-readable JSON report, version 1, documented in docs/json-output.md."""

from __future__ import annotations

import json

from rollguard.model import Decision


def render(decision: Decision, *, color: bool = False) -> str:
    """Render `decision` as the documented JSON document; `color` is ignored."""
    return json.dumps(decision.to_json(), indent=2) + "\n"
