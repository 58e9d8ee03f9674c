"""The control catalogue: the public title of each control id the policy pack cites, for the audit report.

Policies name controls as `FRAMEWORK:ID` (METADATA `custom.controls`); an auditor reads
`SOC2:CC8.1` as "Change management". The titles ship as package data (`controls.json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class ControlTitle:
    """What a control id stands for: its framework's name and the control's title."""

    framework: str
    title: str


@lru_cache(maxsize=1)
def control_catalogue() -> Mapping[str, ControlTitle]:
    """Every catalogued control, by its `FRAMEWORK:ID`."""
    text = resources.files("rollguard.audit").joinpath("controls.json").read_text(encoding="utf-8")
    document = json.loads(text)
    return {
        f"{framework}:{control}": ControlTitle(framework=entry["name"], title=title)
        for framework, entry in document.items()
        if not framework.startswith("$")
        for control, title in entry["controls"].items()
    }


def control_title(control: str) -> ControlTitle | None:
    """The framework and title of `control`, or None for an id the catalogue does not know (a user policy's)."""
    return control_catalogue().get(control)
