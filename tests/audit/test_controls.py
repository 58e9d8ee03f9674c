"""The control catalogue: every control id the bundled policies cite has its framework and public title."""

from __future__ import annotations

from rollguard.audit.controls import ControlTitle, control_catalogue, control_title
from rollguard.policy.bundle import load_bundle

from ..conftest import POLICIES


def titled(control: str) -> ControlTitle:
    found = control_title(control)
    assert found is not None, f"{control} has no title"
    return found


def test_every_control_the_pack_cites_has_a_title() -> None:
    cited = {c for p in load_bundle(POLICIES).policies for c in p.controls}
    untitled = sorted(cited - set(control_catalogue()))
    assert not untitled, f"add these control ids to src/rollguard/audit/controls.json: {untitled}"
    assert all(titled(c).title.strip() and titled(c).framework.strip() for c in cited)


def test_titles_are_the_frameworks_own_names() -> None:
    assert titled("SOC2:CC8.1") == ControlTitle("SOC 2 (AICPA Trust Services Criteria)", "Change management")
    assert titled("NIST-800-53:CM-3") == ControlTitle("NIST SP 800-53 Rev. 5", "Configuration Change Control")
    assert titled("ISO27001:A.8.32") == ControlTitle("ISO/IEC 27001:2022 Annex A", "Change management")
    assert titled("PCI-DSS:6.5.1").framework == "PCI DSS v4.0"


def test_an_unknown_control_has_no_title() -> None:
    assert control_title("ACME:42") is None
    assert control_title("SOC2:CC99.9") is None


def test_the_catalogue_holds_only_frameworks_the_pack_cites() -> None:
    """A framework nobody cites is dead weight that no test would keep correct."""
    cited = {c.split(":", 1)[0] for p in load_bundle(POLICIES).policies for c in p.controls}
    catalogued = {c.split(":", 1)[0] for c in control_catalogue()}
    assert catalogued == cited
