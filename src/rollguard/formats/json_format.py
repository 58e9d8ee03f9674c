"""The machine-readable JSON report, version 1, documented in docs/json-output.md."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rollguard.model import Decision


def render(decision: Decision, *, color: bool = False, extra: Mapping[str, Any] | None = None) -> str:
    """Render `decision` as the documented JSON document, plus `extra` top-level fields; `color` is ignored."""
    return json.dumps({**decision.to_json(), **(extra or {})}, indent=2) + "\n"
