"""METADATA `custom.case_severity`: one named case of a policy's findings with its own severity."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollguard.errors import PolicyError
from rollguard.model import Severity
from rollguard.policy.bundle import PolicyBundle, load_bundle
from rollguard.policy.docs import policy_page

from ..conftest import POLICIES

POLICY = """\
# METADATA
# title: Example
# description: An example policy.
# scope: package
# custom:
#   id: k8s.example
#   severity: high
#   applies_to: [Deployment]
{extra}package rollguard.k8s.example

violation contains {{"msg": "m", "details": {{}}}} if false
"""


def _bundle(tmp_path: Path, extra: str) -> PolicyBundle:
    folder = tmp_path / "rollguard" / "k8s" / "example"
    folder.mkdir(parents=True)
    (folder / "example.rego").write_text(POLICY.format(extra=extra))
    return load_bundle(tmp_path)


def test_a_named_case_has_its_own_severity(tmp_path: Path) -> None:
    [info] = _bundle(tmp_path, "#   case_severity:\n#     note: low\n").policies
    assert info.severity_for({}) == Severity.HIGH
    assert info.severity_for({"case": "note"}) == Severity.LOW
    assert info.severity_for({"case": "other"}) == Severity.HIGH  # an unknown case keeps the policy's severity
    assert info.severity_for({"case": ["note"]}) == Severity.HIGH
    assert "**Severity:** high (low for `note`)" in policy_page(info)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("#   case_severity: low\n", "must map case names to severities"),
        ("#   case_severity:\n#     note: trivial\n", "METADATA custom.case_severity"),
    ],
)
def test_a_bad_case_severity_is_a_policy_error(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _bundle(tmp_path, extra)


def test_scan_coverage_declares_its_low_case() -> None:
    info = load_bundle(POLICIES).by_id()["image.scan_coverage"]
    assert info.severity == Severity.HIGH
    assert dict(info.case_severity) == {"report_without_digest": Severity.LOW}


def test_security_context_blocks_only_on_privileged_and_host_namespaces() -> None:
    info = load_bundle(POLICIES).by_id()["k8s.security_context"]
    assert info.severity == Severity.MEDIUM  # the hardening settings
    assert dict(info.case_severity) == {"privileged": Severity.HIGH, "host_namespace": Severity.HIGH}
