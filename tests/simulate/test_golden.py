"""Every format of `rollguard simulate --compare` on the demo, against its golden file.

Run with ROLLGUARD_UPDATE_GOLDEN=1 to rewrite the golden files, then read the diff.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from rollguard.inputs import load_change_set
from rollguard.simulate import SimulationOptions, simulate_change
from rollguard.simulate.compare import compare_change
from rollguard.simulate.render import RENDERERS

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ROLLGUARD_UPDATE_GOLDEN") == "1"
EXTENSIONS = {"text": "txt", "json": "json", "markdown": "md", "html": "html"}


def test_every_format_has_a_golden_extension() -> None:
    assert set(EXTENSIONS) == set(RENDERERS)


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_golden(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # file names in the report are as given: relative to the repository
    change = load_change_set(["fixtures/demo/storefront.yaml"])
    options = SimulationOptions()
    report = simulate_change(change, options=options)
    report = dataclasses.replace(report, comparisons=compare_change(change, options=options))
    actual = RENDERERS[name](report)
    path = GOLDEN / f"storefront.{EXTENSIONS[name]}"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} missing; run with ROLLGUARD_UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_bytes().decode("utf-8"), f"{name} differs from its golden file"
