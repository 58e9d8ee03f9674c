"""Every format of `rollguard compare` on the shop's rendered files, against its golden file.

Run with ROLLGUARD_UPDATE_GOLDEN=1 to rewrite the golden files, then read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rollguard.fleet.parity import compare_sides, read_side
from rollguard.fleet.render import COMPARE_FORMATS, render_comparisons
from rollguard.policy.config import Parity

DATA = Path(__file__).parent / "data" / "shop"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ROLLGUARD_UPDATE_GOLDEN") == "1"
EXTENSIONS = {"text": "txt", "json": "json", "markdown": "md"}


def test_every_format_has_a_golden_extension() -> None:
    assert set(EXTENSIONS) == set(COMPARE_FORMATS)


@pytest.mark.parametrize("name", sorted(COMPARE_FORMATS))
def test_golden(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)  # file names in the report are as given
    parity = Parity(allowed=("/spec/replicas", "/metadata/namespace"), allowed_image_registry=True)
    comparison = compare_sides(read_side("rendered/prod-eu.yaml"), read_side("rendered/prod-us.yaml"), parity=parity)
    actual = render_comparisons(name, [comparison])
    path = GOLDEN / f"rendered.{EXTENSIONS[name]}"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} missing; run with ROLLGUARD_UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_bytes().decode("utf-8"), f"{name} differs from its golden file"
